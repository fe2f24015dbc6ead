"""Independent test vectors for Motorpool's J1939 DM1 decoder.

Encodes DM1 payloads with a separate implementation -- the PyPI package
`can-j1939` (its DTC and DtcLamp encoders; no CAN bus needed) -- and prints
them as JSON. `crates/domain/src/j1939/oracle.rs` decodes every payload with
our code and compares.

Run in a throwaway virtual environment:

    python3 -m venv /tmp/oracle && /tmp/oracle/bin/pip install can-j1939
    /tmp/oracle/bin/python scripts/oracle/j1939_vectors.py > crates/domain/data/oracle/j1939-dm1-vectors.json
"""

import json
import random

import j1939
from j1939.diagnostic_messages import DTC, DtcLamp

LAMP_NAMES = {
    DtcLamp.OFF: "off",
    DtcLamp.ON: "on",
    DtcLamp.ON_SLOW_FLASH: "slow_flash",
    DtcLamp.ON_FAST_FLASH: "fast_flash",
    DtcLamp.NA: "not_available",
}
EDGE_SPNS = [1, 100, 110, 65535, 65536, 131071, 262144, 516095, 516096, 524286, 524287]


def vector(rng):
    lamps = {key: rng.choice(list(LAMP_NAMES)) for key in ("mil", "rsl", "awl", "pl")}
    payload = DtcLamp().get_data(dict(lamps))
    dtcs = []
    for _ in range(rng.randint(0, 5)):
        spn = rng.choice(EDGE_SPNS) if rng.random() < 0.4 else rng.randint(1, 524287)
        fmi = rng.randint(0, 31)
        oc = rng.choice([0, 1, 126, 127, rng.randint(0, 127)])
        code = DTC(spn=spn, fmi=fmi, oc=oc).dtc
        payload += [code & 0xFF, (code >> 8) & 0xFF, (code >> 16) & 0xFF, (code >> 24) & 0xFF]
        dtcs.append({"spn": spn, "fmi": fmi, "oc": oc})
    return {
        "payload": bytes(payload).hex(),
        "lamps": {key: LAMP_NAMES[value] for key, value in lamps.items()},
        "dtcs": dtcs,
    }


def main():
    rng = random.Random(1939)
    vectors = [vector(rng) for _ in range(300)]
    lines = ",\n".join(json.dumps(v, separators=(",", ":")) for v in vectors)
    print(f'{{"generator":"can-j1939 {j1939.__version__}","vectors":[\n{lines}\n]}}')


if __name__ == "__main__":
    main()
