//! Any bytes as a layer (tar or gzip'd tar): the ELF scan ends with a result or an error,
//! never a panic, and holds no more than its bounds.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = runref::elf::scan_layer(data);
    let _ = runref::elf::ElfId::parse(data);
});
