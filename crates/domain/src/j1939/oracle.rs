//! Our decoder against vectors encoded by an independent implementation
//! (`scripts/oracle/j1939_vectors.py`, using the PyPI package `can-j1939`).

use serde::Deserialize;

use super::{Lamp, decode_dm};

#[derive(Deserialize)]
struct File {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    payload: String,
    lamps: OracleLamps,
    dtcs: Vec<OracleDtc>,
}

#[derive(Deserialize)]
struct OracleLamps {
    mil: Lamp,
    rsl: Lamp,
    awl: Lamp,
    pl: Lamp,
}

#[derive(Deserialize)]
struct OracleDtc {
    spn: u32,
    fmi: u8,
    oc: u8,
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn every_oracle_vector_decodes_to_what_it_encodes() {
    let file: File =
        serde_json::from_str(include_str!("../../data/oracle/j1939-dm1-vectors.json")).unwrap();
    assert_eq!(file.vectors.len(), 300);
    for (i, v) in file.vectors.iter().enumerate() {
        let m = decode_dm(&hex(&v.payload)).unwrap();
        assert_eq!(
            (
                m.lamps.mil,
                m.lamps.red_stop,
                m.lamps.amber_warning,
                m.lamps.protect
            ),
            (v.lamps.mil, v.lamps.rsl, v.lamps.awl, v.lamps.pl),
            "vector {i}"
        );
        let got: Vec<(u32, u8, u8)> = m
            .dtcs
            .iter()
            .map(|d| (d.spn, d.fmi, d.occurrences))
            .collect();
        let want: Vec<(u32, u8, u8)> = v.dtcs.iter().map(|d| (d.spn, d.fmi, d.oc)).collect();
        assert_eq!(got, want, "vector {i}: {}", v.payload);
        assert!(m.dtcs.iter().all(|d| !d.legacy_conversion));
    }
}
