-- One live vehicle of a tenant, read in one statement: the hottest read of
-- the API (`GET /api/v1/vehicles/{id}`). A read inside a transaction costs
-- three messages (BEGIN with the tenant, the SELECT, the ROLLBACK); this
-- function points row-level security at the tenant for the statement's own
-- transaction and then reads, so a request sends one. It runs with the
-- caller's rights: the policy still decides what the caller sees.
CREATE FUNCTION tenant_vehicle(p_tenant uuid, p_vehicle uuid) RETURNS SETOF vehicles
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    RETURN QUERY SELECT * FROM vehicles v
                  WHERE v.tenant_id = p_tenant AND v.id = p_vehicle AND v.deleted_at IS NULL;
END
$$;
