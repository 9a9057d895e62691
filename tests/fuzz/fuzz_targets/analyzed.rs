//! Any text as analyzed.toml: loading never panics; setting the run-image reference changes
//! exactly that value (the rest of the bytes stay), and the result reads back with it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use runref::analyzed::AnalyzedFile;
use std::path::Path;

const NEW: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fuzz_target!(|s: &str| {
    let Ok(mut f) = AnalyzedFile::parse(Path::new("a.toml"), s.to_string()) else {
        return;
    };
    let had = f.view().ok().and_then(|v| v.run_image).and_then(|r| r.reference);
    let Ok(changed) = f.set_run_image_reference(NEW) else {
        return;
    };
    let out = f.render();
    let back = AnalyzedFile::parse(Path::new("a.toml"), out.clone()).expect("output parses");
    let now = back.view().unwrap().run_image.unwrap().reference;
    assert_eq!(now.as_deref(), Some(NEW));
    if !changed {
        assert_eq!(out, s);
    } else if had.is_some() {
        // Only the value's bytes differ: a common prefix and suffix cover the rest.
        let prefix = s.bytes().zip(out.bytes()).take_while(|(a, b)| a == b).count();
        let suffix = s.bytes().rev().zip(out.bytes().rev()).take_while(|(a, b)| a == b).count();
        let old_len = s.len().saturating_sub(prefix + suffix);
        let new_len = out.len().saturating_sub(prefix + suffix);
        assert!(old_len <= s.len() && new_len <= NEW.len() + 2, "more than the value changed");
    }
});
