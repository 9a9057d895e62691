//! Any string: parsing never panics; a parsed platform prints to a selector that parses back
//! to the same platform (normalisation is idempotent).
#![no_main]
use libfuzzer_sys::fuzz_target;
use runref::model::platform::Platform;

fuzz_target!(|s: &str| {
    if let Ok(p) = s.parse::<Platform>() {
        let again: Platform = p.to_string().parse().expect("reparses");
        assert_eq!(again, p);
    }
});
