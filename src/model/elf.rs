//! ELF and PE machine types: what the executables inside an image are built for. This is what
//! running `uname --machine` in the image was for (seed 000), without running anything, and it
//! works for `FROM scratch` images and Windows layers (`Files/**.exe`, `.dll`).

use std::io::Read;

/// The architecture (OCI/Go name) an ELF header's `e_machine` and byte order mean.
pub fn machine_arch(machine: u16, little_endian: bool, class64: bool) -> Option<&'static str> {
    Some(match machine {
        62 => "amd64",
        183 => "arm64",
        40 => "arm",
        3 => "386",
        22 if class64 => "s390x",
        21 if little_endian => "ppc64le",
        21 => "ppc64",
        243 if class64 => "riscv64",
        8 if little_endian => "mipsle",
        8 => "mips",
        258 => "loong64",
        _ => return None,
    })
}

/// A parsed ELF identification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ElfId {
    pub machine: u16,
    pub class64: bool,
    pub little_endian: bool,
}

impl ElfId {
    /// Reads `e_ident` and `e_machine` from the first 20 bytes of a file.
    pub fn parse(head: &[u8]) -> Option<ElfId> {
        if head.len() < 20 || &head[..4] != b"\x7fELF" {
            return None;
        }
        let class64 = match head[4] {
            1 => false,
            2 => true,
            _ => return None,
        };
        let little_endian = match head[5] {
            1 => true,
            2 => false,
            _ => return None,
        };
        let m = [head[18], head[19]];
        let machine = if little_endian {
            u16::from_le_bytes(m)
        } else {
            u16::from_be_bytes(m)
        };
        Some(ElfId {
            machine,
            class64,
            little_endian,
        })
    }

    pub fn arch(&self) -> Option<&'static str> {
        machine_arch(self.machine, self.little_endian, self.class64)
    }

    /// `aarch64`-style description for messages.
    pub fn describe(&self) -> String {
        match self.arch() {
            Some(a) => a.to_string(),
            None => format!("ELF machine {}", self.machine),
        }
    }
}

/// The architecture (OCI/Go name) a PE/COFF `Machine` field means.
pub fn pe_machine_arch(machine: u16) -> Option<&'static str> {
    Some(match machine {
        0x14c => "386",
        0x8664 => "amd64",
        0xaa64 => "arm64",
        0x1c4 => "arm",
        _ => return None,
    })
}

/// Reads the COFF `Machine` of a PE image from its first bytes: `MZ`, `e_lfanew` (u32 at
/// 0x3C), `PE\0\0` there, then the machine (u16, little-endian).
pub fn pe_machine(head: &[u8]) -> Option<u16> {
    if head.len() < 0x40 || &head[..2] != b"MZ" {
        return None;
    }
    let at = u32::from_le_bytes(head[0x3c..0x40].try_into().ok()?) as usize;
    let pe = head.get(at..at.checked_add(6)?)?;
    (&pe[..4] == b"PE\0\0").then(|| u16::from_le_bytes([pe[4], pe[5]]))
}

/// One executable found in a layer: an ELF file (execute bit, Linux) or a PE image (`.exe`,
/// `.dll`, `.sys`, Windows). JSON: `path`, `format` (`elf` or `pe`), `elf` (ELF only),
/// `pe_machine` (PE only), `arch`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ElfFile {
    pub path: String,
    pub format: &'static str,
    pub elf: Option<ElfId>,
    pub pe_machine: Option<u16>,
    /// The OCI architecture it runs on, when known.
    pub arch: Option<&'static str>,
}

impl ElfFile {
    fn elf(path: String, elf: ElfId) -> ElfFile {
        ElfFile {
            path,
            format: "elf",
            arch: elf.arch(),
            elf: Some(elf),
            pe_machine: None,
        }
    }

    fn pe(path: String, machine: u16) -> ElfFile {
        ElfFile {
            path,
            format: "pe",
            arch: pe_machine_arch(machine),
            elf: None,
            pe_machine: Some(machine),
        }
    }

    /// `amd64`-style description for messages, else the format and raw machine.
    pub fn describe(&self) -> String {
        match (self.arch, &self.elf, self.pe_machine) {
            (Some(a), _, _) => a.to_string(),
            (None, Some(e), _) => e.describe(),
            (None, None, Some(m)) => format!("PE machine {m:#06x}"),
            _ => "unknown".into(),
        }
    }
}

/// A Windows executable by name (Windows layers carry no execute bits).
fn pe_candidate(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [".exe", ".dll", ".sys"].iter().any(|x| lower.ends_with(x))
}

/// Scans a layer stored as `compression` (tar, gzip, zstd, or told from the first bytes) for
/// executables: ELF files with an execute bit, PE images by name. Reads the stream once; memory
/// stays bounded by the tar block size, one decompressor (a zstd window of at most
/// [`crate::model::layer::zstd_window_log`]) and 20 bytes per executable found.
pub fn scan_layer<R: Read>(
    reader: R,
    compression: crate::model::layer::Compression,
) -> std::io::Result<Vec<ElfFile>> {
    use crate::model::layer::Compression as C;
    if compression == C::Sniff {
        let mut peek = PeekReader::new(reader)?;
        let c = if peek.head.len() >= 2 && peek.head[..2] == [0x1f, 0x8b] {
            C::Gzip
        } else if peek.head.len() >= 4 && peek.head[..4] == [0x28, 0xb5, 0x2f, 0xfd] {
            C::Zstd
        } else {
            C::None
        };
        peek.rewind();
        return scan_known(peek, c);
    }
    scan_known(reader, compression)
}

fn scan_known<R: Read>(
    reader: R,
    compression: crate::model::layer::Compression,
) -> std::io::Result<Vec<ElfFile>> {
    use crate::model::layer::Compression as C;
    match compression {
        C::Gzip => scan_tar(flate2::read::MultiGzDecoder::new(reader)),
        C::Zstd => {
            let log = crate::model::layer::zstd_window_log()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let mut d = zstd::stream::read::Decoder::new(reader)?;
            d.window_log_max(log)?;
            scan_tar(ZstdErrors(d))
        }
        _ => scan_tar(reader),
    }
}

/// libzstd's refusal of a frame over the window bound, said with runref's bound and knob.
struct ZstdErrors<R>(R);

impl<R: Read> Read for ZstdErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.to_string().contains("too much memory") {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "a zstd frame asks for a window over runref's bound of {} MiB \
                         (RUNREF_MAX_ZSTD_WINDOW raises it)",
                        (1u64 << crate::model::layer::zstd_window_log().unwrap_or(27)) >> 20
                    ),
                )
            } else {
                std::io::Error::new(e.kind(), format!("zstd: {e}"))
            }
        })
    }
}

/// A GNU long-name/long-link record larger than this is refused (Linux paths end at 4 KiB).
pub const LONG_NAME_MAX: u64 = 64 * 1024;
/// A PAX extended-header record larger than this is refused.
pub const PAX_MAX: u64 = 1024 * 1024;

fn over_bound(kind: &str, size: u64, max: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("a tar {kind} record of {size} bytes is over the {max}-byte bound; the layer is not a usable image layer"),
    )
}

/// The largest PE header offset (`e_lfanew`) read to: a PE whose header lies deeper is an
/// executable of unknown machine (so it cannot pass for the claimed one).
pub const PE_MAX: u64 = 1024 * 1024;

/// Walks a tar stream as Go's `archive/tar` does (what Docker and containerd unpack layers
/// with), so the files runref looks at are the files a daemon unpacks: a PAX `size` overrides
/// the header's (files over 8 GiB; a header that says 0 while PAX says more hid an amd64
/// busybox from the tar crate's raw walk, found by a newcomer pass); header-only types (hard
/// and symbolic links, directories, devices, FIFOs) carry no data whatever their size field;
/// GNU long names and PAX paths name the next entry; base-256 sizes are read; every header's
/// checksum is checked. Long-name and PAX records are bounded before a byte is held, and data
/// is skipped by reading it (a stream).
fn scan_tar<R: Read>(mut r: R) -> std::io::Result<Vec<ElfFile>> {
    use tar::EntryType as T;
    let bad = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    let mut out = Vec::new();
    let (mut long_name, mut pax_path, mut pax_size): (Option<String>, Option<String>, Option<u64>) =
        (None, None, None);
    let mut block = [0u8; 512];
    loop {
        if !read_block(&mut r, &mut block)? || block.iter().all(|&b| b == 0) {
            // End of the archive (what follows is read by the caller, to the digest check).
            return Ok(out);
        }
        check_sum(&block).map_err(bad)?;
        let h = tar::Header::from_byte_slice(&block);
        let kind = h.entry_type();
        let header_size = h.entry_size()?;
        match kind {
            T::GNULongName | T::GNULongLink => {
                if header_size > LONG_NAME_MAX {
                    return Err(over_bound("GNU long name", header_size, LONG_NAME_MAX));
                }
                let name = read_data(&mut r, header_size)?;
                if kind == T::GNULongName {
                    let name = String::from_utf8_lossy(&name);
                    long_name = Some(name.trim_end_matches('\0').to_string());
                }
                continue;
            }
            T::XHeader | T::XGlobalHeader => {
                if header_size > PAX_MAX {
                    return Err(over_bound("PAX header", header_size, PAX_MAX));
                }
                let record = read_data(&mut r, header_size)?;
                if kind == T::XHeader {
                    pax_path = pax_value(&record, "path").or(pax_path);
                    if let Some(v) = pax_value(&record, "size") {
                        pax_size = Some(
                            v.trim()
                                .parse()
                                .map_err(|_| bad(format!("a PAX size {v:?} is not a number")))?,
                        );
                    }
                }
                continue;
            }
            _ => {}
        }
        let header_only = matches!(
            kind,
            T::Link | T::Symlink | T::Char | T::Block | T::Directory | T::Fifo
        );
        let size = match (header_only, pax_size.take()) {
            (true, _) => 0,
            (false, Some(p)) => p,
            (false, None) => header_size,
        };
        let path = pax_path
            .take()
            .or(long_name.take())
            .unwrap_or_else(|| String::from_utf8_lossy(&h.path_bytes()).into_owned());
        let regular = matches!(kind, T::Regular | T::Continuous);
        let executable = regular && h.mode().unwrap_or(0) & 0o111 != 0;
        let pe = regular && pe_candidate(&path);
        let mut consumed = 0;
        if executable || pe {
            let head = read_head(&mut r, size, pe)?;
            consumed = head.len() as u64;
            match (ElfId::parse(&head), pe_machine(&head)) {
                (Some(elf), _) if executable => out.push(ElfFile::elf(path, elf)),
                (_, Some(m)) if pe => out.push(ElfFile::pe(path, m)),
                // An MZ image whose PE header lies beyond what is read: a machine nobody
                // can tell, so it cannot pass for the claimed one.
                _ if pe
                    && head.starts_with(b"MZ")
                    && pe_offset(&head).is_some_and(|o| o >= PE_MAX) =>
                {
                    out.push(ElfFile {
                        path,
                        format: "pe",
                        elf: None,
                        pe_machine: None,
                        arch: None,
                    })
                }
                _ => {}
            }
        }
        skip(&mut r, size - consumed)?;
        skip(&mut r, padding(size))?;
    }
}

/// The 512-byte tar record size.
fn padding(size: u64) -> u64 {
    (512 - size % 512) % 512
}

/// One 512-byte block; `false` at a clean end of stream, an error inside a block.
fn read_block<R: Read>(r: &mut R, block: &mut [u8; 512]) -> std::io::Result<bool> {
    let mut n = 0;
    while n < block.len() {
        match r.read(&mut block[n..])? {
            0 if n == 0 => return Ok(false),
            0 => return Err(truncated()),
            k => n += k,
        }
    }
    Ok(true)
}

fn truncated() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the layer's tar ends inside an entry (truncated)",
    )
}

/// A tar header's checksum, as Go's `archive/tar` checks it (the unsigned or the signed sum,
/// the checksum field counted as spaces).
fn check_sum(block: &[u8; 512]) -> Result<(), String> {
    let field = String::from_utf8_lossy(&block[148..156]);
    let want = u64::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
        .map_err(|_| format!("a tar header has no valid checksum ({field:?}): not a tar layer"))?;
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    if want == unsigned || want as i64 == signed {
        Ok(())
    } else {
        Err(format!(
            "a tar header's checksum is wrong ({want} vs {unsigned}): the layer is corrupt or not a tar"
        ))
    }
}

/// A metadata record of `size` (already bounded) bytes, and its padding.
fn read_data<R: Read>(r: &mut R, size: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(size as usize);
    let n = (&mut *r).take(size).read_to_end(&mut buf)? as u64;
    if n < size {
        return Err(truncated());
    }
    skip(r, padding(size))?;
    Ok(buf)
}

/// Reads and drops `n` bytes.
fn skip<R: Read>(r: &mut R, n: u64) -> std::io::Result<()> {
    if n == 0 {
        return Ok(());
    }
    let got = std::io::copy(&mut (&mut *r).take(n), &mut std::io::sink())?;
    if got < n {
        return Err(truncated());
    }
    Ok(())
}

/// The first bytes of an executable candidate: 20 for ELF (`e_ident` and `e_machine`); for a
/// PE, up to its header at `e_lfanew` (within [`PE_MAX`] and the file).
fn read_head<R: Read>(r: &mut R, size: u64, pe: bool) -> std::io::Result<Vec<u8>> {
    let first = size.min(if pe { 0x40 } else { 20 });
    let mut head = Vec::new();
    (&mut *r).take(first).read_to_end(&mut head)?;
    if (head.len() as u64) < first {
        return Err(truncated());
    }
    if let Some(at) = pe_offset(&head).filter(|_| pe && head.starts_with(b"MZ")) {
        let want = (at + 6).min(size).min(PE_MAX);
        let more = want.saturating_sub(head.len() as u64);
        let before = head.len() as u64;
        (&mut *r).take(more).read_to_end(&mut head)?;
        if (head.len() as u64) < before + more {
            return Err(truncated());
        }
    }
    Ok(head)
}

/// `e_lfanew`, when the head reaches it.
fn pe_offset(head: &[u8]) -> Option<u64> {
    Some(u64::from(u32::from_le_bytes(
        head.get(0x3c..0x40)?.try_into().ok()?,
    )))
}

/// A value of a PAX record (`<len> key=value\n` lines).
fn pax_value(record: &[u8], key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    String::from_utf8_lossy(record).lines().find_map(|l| {
        l.split_once(' ')
            .and_then(|(_, kv)| kv.strip_prefix(prefix.as_str()))
            .map(str::to_string)
    })
}

/// A reader that can look at its first bytes and then replay them.
struct PeekReader<R> {
    head: Vec<u8>,
    pos: usize,
    inner: R,
}

impl<R: Read> PeekReader<R> {
    fn new(mut inner: R) -> std::io::Result<Self> {
        let mut head = vec![0u8; 4];
        let mut n = 0;
        while n < 4 {
            match inner.read(&mut head[n..])? {
                0 => break,
                k => n += k,
            }
        }
        head.truncate(n);
        Ok(PeekReader {
            head,
            pos: 0,
            inner,
        })
    }
    fn rewind(&mut self) {
        self.pos = 0;
    }
}

impl<R: Read> Read for PeekReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos < self.head.len() {
            let n = buf.len().min(self.head.len() - self.pos);
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layer::Compression;

    fn header(machine: u16, class64: bool, le: bool) -> Vec<u8> {
        let mut b = vec![
            0x7f,
            b'E',
            b'L',
            b'F',
            if class64 { 2 } else { 1 },
            if le { 1 } else { 2 },
            1,
        ];
        b.resize(18, 0);
        b.extend_from_slice(&if le {
            machine.to_le_bytes()
        } else {
            machine.to_be_bytes()
        });
        b.resize(64, 0);
        b
    }

    #[test]
    fn machines() {
        let cases = [
            (62, true, true, Some("amd64")),
            (183, true, true, Some("arm64")),
            (40, false, true, Some("arm")),
            (3, false, true, Some("386")),
            (22, true, false, Some("s390x")),
            (21, true, true, Some("ppc64le")),
            (243, true, true, Some("riscv64")),
            (9999, true, true, None),
        ];
        for (m, c64, le, want) in cases {
            let id = ElfId::parse(&header(m, c64, le)).unwrap();
            assert_eq!(id.machine, m);
            assert_eq!(id.arch(), want, "machine {m}");
        }
        assert!(ElfId::parse(b"#!/bin/sh\necho hi\n....").is_none());
        assert!(ElfId::parse(b"\x7fELF").is_none(), "too short");
    }

    fn tar_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, d, mode) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(d.len() as u64);
            h.set_mode(*mode);
            h.set_cksum();
            b.append_data(&mut h, p, *d).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// A tar header of `kind` claiming `size` bytes, followed by nothing: the bound must be
    /// checked before a byte of the record is read.
    fn lying_record(kind: tar::EntryType, size: u64) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_path("././@LongLink").unwrap();
        h.set_size(size);
        h.set_cksum();
        h.as_bytes().to_vec()
    }

    #[test]
    fn huge_name_and_pax_records_are_refused_before_reading() {
        for (kind, size) in [
            (tar::EntryType::GNULongName, 512 << 20),
            (tar::EntryType::GNULongLink, LONG_NAME_MAX + 1),
            (tar::EntryType::XHeader, 512 << 20),
            (tar::EntryType::XGlobalHeader, PAX_MAX + 1),
        ] {
            let e =
                scan_layer(lying_record(kind, size).as_slice(), Compression::Sniff).unwrap_err();
            assert!(e.to_string().contains("bound"), "{kind:?}: {e}");
        }
    }

    #[test]
    fn long_names_within_the_bound_are_reported() {
        let long = format!("usr/{}/bin/app", "d".repeat(300));
        let data = tar_of(&[(&long, &header(183, true, true), 0o755)]);
        let found = scan_layer(data.as_slice(), Compression::None).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, long);
        assert_eq!(found[0].arch, Some("arm64"));
    }

    #[test]
    fn scans_plain_and_gzip_layers_for_executables_only() {
        let amd = header(62, true, true);
        let arm = header(183, true, true);
        let t = tar_of(&[
            ("bin/app", &amd, 0o755),
            ("lib/libx.so", &arm, 0o644),
            ("bin/script", b"#!/bin/sh\nexit 0\n", 0o755),
            ("bin/tool", &arm, 0o700),
        ]);
        let found = scan_layer(&t[..], Compression::Sniff).unwrap();
        let got: Vec<_> = found.iter().map(|f| (f.path.as_str(), f.arch)).collect();
        assert_eq!(
            got,
            vec![("bin/app", Some("amd64")), ("bin/tool", Some("arm64"))]
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &t).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(scan_layer(&gz[..], Compression::Sniff).unwrap(), found);
        assert_eq!(scan_layer(&gz[..], Compression::Gzip).unwrap(), found);
        assert!(
            scan_layer(&gz[..gz.len() / 2], Compression::Gzip).is_err(),
            "a truncated layer is an error"
        );
    }

    fn pe(machine: u16, lfanew: u32) -> Vec<u8> {
        let mut b = vec![0u8; lfanew as usize];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&lfanew.to_le_bytes());
        b.extend_from_slice(b"PE\0\0");
        b.extend_from_slice(&machine.to_le_bytes());
        b.resize(b.len() + 64, 0);
        b
    }

    #[test]
    fn zstd_layers_are_read_like_gzip_ones() {
        let t = tar_of(&[("bin/app", &header(183, true, true), 0o755)]);
        let z = zstd::encode_all(&t[..], 3).unwrap();
        let found = scan_layer(&z[..], Compression::Zstd).unwrap();
        assert_eq!(found[0].arch, Some("arm64"));
        assert_eq!(scan_layer(&z[..], Compression::Sniff).unwrap(), found);
        // zstd:chunked: several frames and a skippable frame (its table of contents).
        let mut chunked = zstd::encode_all(&t[..512], 3).unwrap();
        chunked.extend(zstd::encode_all(&t[512..], 3).unwrap());
        chunked.extend([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, b't', b'o', b'c', b'!']);
        assert_eq!(scan_layer(&chunked[..], Compression::Zstd).unwrap(), found);
        assert!(scan_layer(&z[..z.len() / 2], Compression::Zstd).is_err());
        // A gzip layer labelled zstd is an error, not a silent pass.
        assert!(scan_layer(&t[..], Compression::Zstd).is_err());
    }

    /// A frame asking for a window over the bound (256 MiB > 128 MiB) is refused, naming the
    /// bound and its knob, before any window is allocated.
    #[test]
    fn a_zstd_window_over_the_bound_is_refused() {
        let t = tar_of(&[("bin/app", &header(62, true, true), 0o755)]);
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        e.window_log(28).unwrap();
        e.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut e, &t).unwrap();
        let z = e.finish().unwrap();
        let err = scan_layer(&z[..], Compression::Zstd)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("128 MiB") && err.contains("RUNREF_MAX_ZSTD_WINDOW"),
            "{err}"
        );
    }

    /// A zstd bomb (256 MiB of zeros in one entry, 8 KiB compressed) streams through: the tar
    /// reader skips the entry's data, nothing is held.
    #[test]
    fn a_zstd_bomb_streams_in_bounded_memory() {
        struct Zeros(u64);
        impl Read for Zeros {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = (buf.len() as u64).min(self.0) as usize;
                buf[..n].fill(0);
                self.0 -= n as u64;
                Ok(n)
            }
        }
        let size = 256u64 << 20;
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        let mut b = tar::Builder::new(zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap());
        b.append_data(&mut h, "zeros", Zeros(size)).unwrap();
        let app = header(62, true, true);
        let mut h2 = tar::Header::new_gnu();
        h2.set_size(app.len() as u64);
        h2.set_mode(0o755);
        h2.set_cksum();
        b.append_data(&mut h2, "bin/app", &app[..]).unwrap();
        let z = b.into_inner().unwrap().finish().unwrap();
        assert!(z.len() < 64 << 10, "{} bytes", z.len());
        let start = std::time::Instant::now();
        let found = scan_layer(&z[..], Compression::Zstd).unwrap();
        assert_eq!(
            found.len(),
            1,
            "the executable after the bomb is still found"
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
    }

    /// Windows layers: PE images found by name whatever their mode bits (Windows layers carry
    /// none), their COFF machine mapped; a PE named otherwise or without `PE\0\0` is skipped.
    #[test]
    fn windows_executables_are_read_from_their_pe_header() {
        let t = tar_of(&[
            ("Files/Windows/System32/app.exe", &pe(0x8664, 0x80), 0o644),
            ("Files/Program Files/x/LIB.DLL", &pe(0xaa64, 0x100), 0o644),
            ("Files/x/i386.sys", &pe(0x14c, 0xe8), 0o644),
            ("Files/x/armnt.exe", &pe(0x1c4, 0x80), 0o644),
            ("Files/x/readme.txt", &pe(0x8664, 0x80), 0o644),
            ("Files/x/not-pe.exe", b"MZ but nothing else", 0o644),
            ("Hives/DefaultUser_Delta", b"regf", 0o644),
        ]);
        let found = scan_layer(&t[..], Compression::None).unwrap();
        let got: Vec<_> = found.iter().map(|f| (f.format, f.arch)).collect();
        assert_eq!(
            got,
            vec![
                ("pe", Some("amd64")),
                ("pe", Some("arm64")),
                ("pe", Some("386")),
                ("pe", Some("arm"))
            ]
        );
        assert_eq!(pe_machine(&pe(0x5032, 0x80)), Some(0x5032));
        assert_eq!(pe_machine_arch(0x5032), None);
        // e_lfanew beyond what is read, or pointing past the end: no PE.
        assert_eq!(pe_machine(&pe(0x8664, 0x80)[..0x84]), None);
    }

    /// A raw tar header block with a valid checksum.
    fn raw_header(path: &str, kind: u8, size: u64, mode: u32) -> Vec<u8> {
        let mut h = tar::Header::new_ustar();
        h.set_path(path).unwrap();
        h.set_size(size);
        h.set_mode(mode);
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_cksum();
        h.as_bytes().to_vec()
    }

    fn pad(v: &mut Vec<u8>) {
        v.resize(v.len().div_ceil(512) * 512, 0);
    }

    /// Tricks found by a newcomer pass: files the tar crate's raw walk saw differently from
    /// Go's archive/tar (what Docker unpacks with). Each must give what Docker unpacks.
    #[test]
    fn the_walk_sees_what_docker_unpacks() {
        let amd = header(62, true, true);
        let arm = header(183, true, true);
        // 1. A header that says 0 bytes while its PAX record says more: the arm64 "entry"
        // inside the data is data; the amd64 file after it is what unpacks.
        let decoy = tar_of(&[("bin/busybox", &arm, 0o755)]);
        let decoy = &decoy[..decoy.len() - 1024]; // no end-of-archive inside
                                                  // "<len> size=<n>\n", the length counting itself.
        let body = format!(" size={}\n", decoy.len());
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        let record = format!("{len}{body}");
        let mut t = raw_header("PaxHeaders/pad", b'x', record.len() as u64, 0o644);
        t.extend(record.as_bytes());
        pad(&mut t);
        t.extend(raw_header("pad", b'0', 0, 0o644));
        t.extend(decoy);
        pad(&mut t);
        t.extend(tar_of(&[("bin/busybox", &amd, 0o755)]));
        let found = scan_layer(&t[..], Compression::None).unwrap();
        let got: Vec<_> = found.iter().map(|f| (f.path.as_str(), f.arch)).collect();
        assert_eq!(got, vec![("bin/busybox", Some("amd64"))]);
        // 2. A symbolic link whose size field is not 0: Go reads no data for it, so the
        // header right after is the next entry (the tar crate skipped it as data).
        let mut t = raw_header("bin/sh", b'2', 512, 0o777);
        t.extend(tar_of(&[("bin/app", &amd, 0o755)]));
        let found = scan_layer(&t[..], Compression::None).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].arch, Some("amd64"));
        // 3. A corrupt header is an error, not a silent end.
        let mut t = tar_of(&[("bin/app", &amd, 0o755)]);
        t[0] ^= 1;
        assert!(scan_layer(&t[..], Compression::None).is_err());
    }

    /// A PE whose header lies deep in the file is read there (e_lfanew 0x2000); one beyond
    /// the bound is an executable of unknown machine, never a silent skip.
    #[test]
    fn deep_pe_headers_are_read_or_flagged() {
        let deep = pe(0x8664, 0x2000);
        let found = scan_layer(
            &tar_of(&[("Files/b.exe", &deep, 0o644)])[..],
            Compression::None,
        )
        .unwrap();
        assert_eq!(found[0].arch, Some("amd64"));
        let mut far = vec![0u8; 0x40];
        far[..2].copy_from_slice(b"MZ");
        far[0x3c..0x40].copy_from_slice(&(2u32 << 20).to_le_bytes());
        far.resize(3 << 20, 0);
        let found = scan_layer(
            &tar_of(&[("Files/far.exe", &far, 0o644)])[..],
            Compression::None,
        )
        .unwrap();
        assert_eq!((found.len(), found[0].arch), (1, None));
    }
}
