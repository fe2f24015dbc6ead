-- Every change of the credential epoch is announced on the channel
-- `motorpool_credential_epoch` (the payload is the new epoch), delivered when
-- the changing transaction commits. A server listens and keeps the epoch in
-- memory instead of reading it on every request (credential_epoch.rs).
CREATE FUNCTION notify_credential_epoch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('motorpool_credential_epoch', NEW.epoch::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER credential_epoch_notify
    AFTER UPDATE ON credential_epoch
    FOR EACH ROW EXECUTE FUNCTION notify_credential_epoch();
