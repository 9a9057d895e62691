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

fn scan_tar<R: Read>(r: R) -> std::io::Result<Vec<ElfFile>> {
    let mut archive = tar::Archive::new(r);
    let mut out = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let header = entry.header();
        if header.entry_type() != tar::EntryType::Regular {
            continue;
        }
        if header.mode().unwrap_or(0) & 0o111 == 0 {
            continue;
        }
        let path = entry.path()?.to_string_lossy().into_owned();
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
