//! ELF machine types: what the executables inside an image are built for. This is what running
//! `uname --machine` in the image was for (seed 000), without running anything, and it works for
//! `FROM scratch` images.

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

/// One executable ELF file found in a layer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ElfFile {
    pub path: String,
    pub elf: ElfId,
    /// The OCI architecture it runs on, when known.
    pub arch: Option<&'static str>,
}

/// Scans a layer (gzip-compressed or plain tar, detected from the bytes) for executable ELF
/// files (regular files with an execute bit). Reads the stream once; memory stays bounded by
/// the tar block size plus 20 bytes per file.
pub fn scan_layer<R: Read>(reader: R) -> std::io::Result<Vec<ElfFile>> {
    let mut peek = PeekReader::new(reader)?;
    let gz = peek.head.len() >= 2 && peek.head[..2] == [0x1f, 0x8b];
    if peek.head.len() >= 4 && peek.head[..4] == [0x28, 0xb5, 0x2f, 0xfd] {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "zstd-compressed layers are not supported",
        ));
    }
    peek.rewind();
    if gz {
        scan_tar(flate2::read::MultiGzDecoder::new(peek))
    } else {
        scan_tar(peek)
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

/// Reads a metadata record (long name, PAX) whose size was checked against `max`.
fn read_record<R: Read>(entry: &mut tar::Entry<'_, R>, max: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    entry.take(max).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The `path` of a PAX record (`<len> path=<value>\n` lines).
fn pax_path(record: &[u8]) -> Option<String> {
    String::from_utf8_lossy(record).lines().find_map(|l| {
        l.split_once(' ')
            .and_then(|(_, kv)| kv.strip_prefix("path="))
            .map(str::to_string)
    })
}

fn scan_tar<R: Read>(r: R) -> std::io::Result<Vec<ElfFile>> {
    let mut archive = tar::Archive::new(r);
    let mut out = Vec::new();
    // Raw entries: the long-name and PAX records come to us, so their sizes are checked before
    // a byte of them is held (the tar crate would buffer a whole 512 MiB name).
    let mut long_name: Option<String> = None;
    for entry in archive.entries()?.raw(true) {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        let size = entry.header().entry_size()?;
        match kind {
            tar::EntryType::GNULongName | tar::EntryType::GNULongLink => {
                if size > LONG_NAME_MAX {
                    return Err(over_bound("GNU long name", size, LONG_NAME_MAX));
                }
                let name = read_record(&mut entry, LONG_NAME_MAX)?;
                if kind == tar::EntryType::GNULongName {
                    let name = String::from_utf8_lossy(&name);
                    long_name = Some(name.trim_end_matches('\0').to_string());
                }
                continue;
            }
            tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => {
                if size > PAX_MAX {
                    return Err(over_bound("PAX header", size, PAX_MAX));
                }
                let record = read_record(&mut entry, PAX_MAX)?;
                if kind == tar::EntryType::XHeader {
                    long_name = pax_path(&record).or(long_name);
                }
                continue;
            }
            _ => {}
        }
        let name = long_name.take();
        let header = entry.header();
        if header.entry_type() != tar::EntryType::Regular {
            continue;
        }
        if header.mode().unwrap_or(0) & 0o111 == 0 {
            continue;
        }
        let path = match name {
            Some(n) => n,
            None => entry.path()?.to_string_lossy().into_owned(),
        };
        let mut head = [0u8; 20];
        let mut n = 0;
        while n < head.len() {
            match entry.read(&mut head[n..])? {
                0 => break,
                k => n += k,
            }
        }
        if let Some(elf) = ElfId::parse(&head[..n]) {
            out.push(ElfFile {
                path,
                arch: elf.arch(),
                elf,
            });
        }
        // The rest of the entry is skipped by the archive iterator.
    }
    Ok(out)
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
            let e = scan_layer(lying_record(kind, size).as_slice()).unwrap_err();
            assert!(e.to_string().contains("bound"), "{kind:?}: {e}");
        }
    }

    #[test]
    fn long_names_within_the_bound_are_reported() {
        let long = format!("usr/{}/bin/app", "d".repeat(300));
        let data = tar_of(&[(&long, &header(183, true, true), 0o755)]);
        let found = scan_layer(data.as_slice()).unwrap();
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
        let found = scan_layer(&t[..]).unwrap();
        let got: Vec<_> = found.iter().map(|f| (f.path.as_str(), f.arch)).collect();
        assert_eq!(
            got,
            vec![("bin/app", Some("amd64")), ("bin/tool", Some("arm64"))]
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &t).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(scan_layer(&gz[..]).unwrap(), found);
        assert!(
            scan_layer(&gz[..gz.len() / 2]).is_err(),
            "a truncated layer is an error"
        );
    }
}
