//! Any bytes as a layer (tar, gzip'd or zstd'd tar, told or sniffed): the ELF scan ends with a result or an error,
//! never a panic, and holds no more than its bounds.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use runref::model::layer::Compression;
    for c in [Compression::Sniff, Compression::None, Compression::Gzip, Compression::Zstd] {
        let _ = runref::model::elf::scan_layer(data, c);
    }
    let _ = runref::model::elf::pe_machine(data);
    let _ = runref::model::elf::ElfId::parse(data);
});
