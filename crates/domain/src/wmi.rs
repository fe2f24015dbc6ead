//! World manufacturer identifiers (VIN positions 1–3) of common makes, and
//! the region and country a VIN's first characters name.
//!
//! Facts from NHTSA vPIC's manufacturer table as summarised in
//! `shared/reference/j1939-obd-vin.md` §5.3, completed with the WMIs that
//! manufacturers publish for their own products. Lookups are on exactly three
//! characters (six for small makers with `9` in position 3): a two-character
//! prefix fallback confuses makers (1H is Honda, 1HS is Navistar).

/// What sort of vehicles a WMI is used for. It decides whether the
/// light-vehicle model-year rule (VIN position 7) applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VehicleClass {
    /// Passenger cars, MPVs and trucks up to 10,000 lb GVWR.
    Light,
    /// Medium and heavy trucks, buses, tractors.
    Heavy,
    Motorcycle,
    /// Used for light and heavier vehicles alike (e.g. a maker's incomplete chassis).
    Mixed,
}

/// One WMI: who makes what under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wmi {
    pub code: &'static str,
    pub manufacturer: &'static str,
    /// The brand drivers know it by.
    pub make: &'static str,
    pub class: VehicleClass,
}

use VehicleClass::{Heavy, Light, Mixed, Motorcycle};

const fn w(
    code: &'static str,
    manufacturer: &'static str,
    make: &'static str,
    class: VehicleClass,
) -> Wmi {
    Wmi {
        code,
        manufacturer,
        make,
        class,
    }
}

/// Sorted by code for binary search (a unit test checks the order).
pub const WMIS: &[Wmi] = &[
    w("1C4", "FCA US LLC", "Chrysler/Jeep/Dodge", Light),
    w("1C6", "FCA US LLC", "Ram", Light),
    w("1FA", "Ford Motor Company", "Ford", Light),
    w("1FD", "Ford Motor Company", "Ford", Mixed),
    w("1FM", "Ford Motor Company", "Ford", Light),
    w("1FT", "Ford Motor Company", "Ford", Light),
    w(
        "1FU",
        "Daimler Truck North America LLC",
        "Freightliner",
        Heavy,
    ),
    w(
        "1FV",
        "Daimler Truck North America LLC",
        "Freightliner",
        Heavy,
    ),
    w("1G1", "General Motors LLC", "Chevrolet", Light),
    w("1G6", "General Motors LLC", "Cadillac", Light),
    w("1GC", "General Motors LLC", "Chevrolet", Light),
    w("1GK", "General Motors LLC", "GMC", Light),
    w("1GN", "General Motors LLC", "Chevrolet", Light),
    w("1GT", "General Motors LLC", "GMC", Light),
    w("1HG", "Honda of America Mfg.", "Honda", Light),
    w("1HS", "Navistar, Inc.", "International", Heavy),
    w("1HT", "Navistar, Inc.", "International", Heavy),
    w("1J4", "Chrysler (Jeep)", "Jeep", Light),
    w("1M1", "Mack Trucks Inc.", "Mack", Heavy),
    w("1M2", "Mack Trucks Inc.", "Mack", Heavy),
    w("1N4", "Nissan North America", "Nissan", Light),
    w("1N6", "Nissan North America", "Nissan", Light),
    w("1XK", "Kenworth Truck Company", "Kenworth", Heavy),
    w("1XP", "Peterbilt Motors Company", "Peterbilt", Heavy),
    w("2C3", "FCA Canada", "Chrysler/Dodge", Light),
    w("2FM", "Ford Motor Company of Canada", "Ford", Light),
    w("2G1", "General Motors of Canada", "Chevrolet", Light),
    w("2HG", "Honda of Canada Mfg.", "Honda", Light),
    w("2HK", "Honda of Canada Mfg.", "Honda", Light),
    w("2HS", "Navistar Canada", "International", Heavy),
    w("2T1", "Toyota Motor Manufacturing Canada", "Toyota", Light),
    w("2T3", "Toyota Motor Manufacturing Canada", "Toyota", Light),
    w("2XK", "Kenworth Truck Company", "Kenworth", Heavy),
    w("2XP", "Peterbilt Motors Company", "Peterbilt", Heavy),
    w(
        "3AK",
        "Daimler Truck North America (Mexico)",
        "Freightliner",
        Heavy,
    ),
    w("3C6", "Chrysler de Mexico", "Ram", Light),
    w("3FA", "Ford Motor Company (Mexico)", "Ford", Light),
    w("3GC", "General Motors de Mexico", "Chevrolet", Light),
    w("3HS", "Navistar Mexico", "International", Heavy),
    w("3N1", "Nissan Mexicana", "Nissan", Light),
    w("3VW", "Volkswagen de Mexico", "Volkswagen", Light),
    w(
        "4JG",
        "Mercedes-Benz U.S. International",
        "Mercedes-Benz",
        Light,
    ),
    w("4S4", "Subaru of Indiana Automotive", "Subaru", Light),
    w(
        "4T1",
        "Toyota Motor Manufacturing Kentucky",
        "Toyota",
        Light,
    ),
    w("4UZ", "Freightliner Custom Chassis", "Freightliner", Heavy),
    w(
        "4V4",
        "Volvo Group North America, LLC",
        "Volvo Trucks",
        Heavy,
    ),
    w(
        "4VG",
        "Volvo Group North America, LLC",
        "Volvo Trucks",
        Heavy,
    ),
    w("5FN", "Honda Manufacturing of Alabama", "Honda", Light),
    w("5J6", "Honda of America Mfg.", "Honda", Light),
    w("5N1", "Nissan North America", "Nissan", Light),
    w(
        "5NP",
        "Hyundai Motor Manufacturing Alabama",
        "Hyundai",
        Light,
    ),
    w("5TD", "Toyota Motor Manufacturing Indiana", "Toyota", Light),
    w("5TF", "Toyota Motor Manufacturing Texas", "Toyota", Light),
    w("5UX", "BMW Manufacturing Co.", "BMW", Light),
    w("5YJ", "Tesla, Inc.", "Tesla", Light),
    w("7SA", "Tesla, Inc.", "Tesla", Light),
    w("JA3", "Mitsubishi Motors Corporation", "Mitsubishi", Light),
    w("JAA", "Isuzu Motors Limited", "Isuzu", Heavy),
    w("JF1", "Subaru Corporation", "Subaru", Light),
    w("JF2", "Subaru Corporation", "Subaru", Light),
    w("JH2", "Honda Motor Co.", "Honda", Motorcycle),
    w("JHM", "Honda Motor Co.", "Honda", Light),
    w("JKA", "Kawasaki Heavy Industries", "Kawasaki", Motorcycle),
    w("JM1", "Mazda Motor Corporation", "Mazda", Light),
    w("JN1", "Nissan Motor Co.", "Nissan", Light),
    w("JN8", "Nissan Motor Co.", "Nissan", Light),
    w("JS1", "Suzuki Motor Corporation", "Suzuki", Motorcycle),
    w("JT2", "Toyota Motor Corporation", "Toyota", Light),
    w("JTD", "Toyota Motor Corporation", "Toyota", Light),
    w("JTE", "Toyota Motor Corporation", "Toyota", Light),
    w("JTH", "Toyota Motor Corporation", "Lexus", Light),
    w("JYA", "Yamaha Motor Co.", "Yamaha", Motorcycle),
    w("KM8", "Hyundai Motor Company", "Hyundai", Light),
    w("KMH", "Hyundai Motor Company", "Hyundai", Light),
    w("KNA", "Kia Corporation", "Kia", Light),
    w("KND", "Kia Corporation", "Kia", Light),
    w("LRW", "Tesla (Shanghai)", "Tesla", Light),
    w("SAJ", "Jaguar Land Rover", "Jaguar", Light),
    w("SAL", "Jaguar Land Rover", "Land Rover", Light),
    w("TMB", "Skoda Auto", "Skoda", Light),
    w("VF1", "Renault", "Renault", Light),
    w("VF3", "Stellantis (Peugeot)", "Peugeot", Light),
    w("VF7", "Stellantis (Citroen)", "Citroen", Light),
    w("VSS", "SEAT", "SEAT", Light),
    w("W0L", "Opel Automobile", "Opel", Light),
    w("W1K", "Mercedes-Benz AG", "Mercedes-Benz", Light),
    w("WAU", "Audi AG", "Audi", Light),
    w("WBA", "BMW AG", "BMW", Light),
    w("WBS", "BMW M GmbH", "BMW M", Light),
    w("WDB", "Daimler AG", "Mercedes-Benz", Light),
    w("WDD", "Daimler AG", "Mercedes-Benz", Light),
    w("WF0", "Ford-Werke GmbH", "Ford", Light),
    w("WMW", "BMW AG", "MINI", Light),
    w("WP0", "Dr. Ing. h.c. F. Porsche AG", "Porsche", Light),
    w("WP1", "Dr. Ing. h.c. F. Porsche AG", "Porsche", Light),
    w(
        "WV1",
        "Volkswagen AG (Commercial Vehicles)",
        "Volkswagen",
        Light,
    ),
    w(
        "WV2",
        "Volkswagen AG (Commercial Vehicles)",
        "Volkswagen",
        Light,
    ),
    w("WVW", "Volkswagen AG", "Volkswagen", Light),
    w("XLR", "DAF Trucks", "DAF", Heavy),
    w("YS2", "Scania AB", "Scania", Heavy),
    w("YV1", "Volvo Car Corporation", "Volvo", Light),
    w("YV2", "Volvo Trucks", "Volvo Trucks", Heavy),
    w("ZAR", "Alfa Romeo", "Alfa Romeo", Light),
    w("ZFA", "Fiat", "Fiat", Light),
    w("ZFF", "Ferrari", "Ferrari", Light),
];

/// Looks up a WMI by its exact code.
pub fn lookup(code: &str) -> Option<&'static Wmi> {
    WMIS.binary_search_by(|w| w.code.cmp(code))
        .ok()
        .map(|i| &WMIS[i])
}

/// The region a VIN's first character stands for (ISO 3780).
pub fn region(first: char) -> &'static str {
    match first {
        'A'..='H' => "Africa",
        'J'..='R' => "Asia",
        'S'..='Z' => "Europe",
        '1'..='5' => "North America",
        '6' | '7' => "Oceania",
        '8' | '9' | '0' => "South America",
        _ => "unknown",
    }
}

/// The country of the most common VIN prefixes; `None` where the prefix is
/// shared or rare (the region still applies).
pub fn country(first: char, second: char) -> Option<&'static str> {
    Some(match (first, second) {
        ('1' | '4' | '5', _) => "United States",
        ('2', _) => "Canada",
        ('3', 'A'..='W') => "Mexico",
        ('J', _) => "Japan",
        ('K', 'L'..='R') => "South Korea",
        ('L', _) => "China",
        ('S', 'A'..='M') => "United Kingdom",
        ('T', 'J'..='P') => "Czech Republic",
        ('V', 'F'..='R') => "France",
        ('V', 'S'..='W') => "Spain",
        ('W', _) => "Germany",
        ('X', 'L'..='R') => "Netherlands",
        ('Y', 'S'..='W') => "Sweden",
        ('Z', 'A'..='R') => "Italy",
        ('9', 'A'..='E' | '3'..='9') => "Brazil",
        ('6', 'A'..='W') => "Australia",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_large_enough() {
        assert!(
            WMIS.windows(2).all(|p| p[0].code < p[1].code),
            "sorted, no duplicates"
        );
        assert!(WMIS.len() >= 60);
        assert!(WMIS.iter().all(|w| w.code.len() == 3));
    }

    #[test]
    fn lookups_use_all_three_characters() {
        assert_eq!(lookup("1FU").unwrap().make, "Freightliner");
        assert_eq!(lookup("1HS").unwrap().make, "International", "not Honda");
        assert_eq!(lookup("1HG").unwrap().make, "Honda");
        assert!(lookup("1HX").is_none());
    }

    #[test]
    fn regions_and_countries() {
        assert_eq!(region('W'), "Europe");
        assert_eq!(region('1'), "North America");
        assert_eq!(country('3', 'A'), Some("Mexico"));
        assert_eq!(country('W', 'B'), Some("Germany"));
        assert_eq!(country('3', 'X'), None);
    }
}
