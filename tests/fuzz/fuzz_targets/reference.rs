//! Any string: parsing never panics; what parses prints back as written and parses again to
//! the same reference, with the same normalised forms.
#![no_main]
use libfuzzer_sys::fuzz_target;
use runref::model::reference::{ImageRef, Reference};

fuzz_target!(|s: &str| {
    let _ = ImageRef::parse(s);
    if let Ok(r) = s.parse::<Reference>() {
        assert_eq!(r.to_string(), s);
        let again: Reference = r.to_string().parse().expect("reparses");
        assert_eq!(again, r);
        assert_eq!(again.canonical(), r.canonical());
        let _ = (r.familiar_name(), r.daemon_names(), r.canonical(), r.repository());
    }
});
