//! Layer media types: how a layer's bytes are read, and which layers are not the registry's
//! to give (issue 21). One table for verify's content scan and copy's transfer.

/// How a layer's tar is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar (`...layer.v1.tar`).
    None,
    /// gzip, estargz included (gzip members with a table of contents, read as gzip).
    Gzip,
    /// zstd, zstd:chunked included (frames plus skippable frames, read as zstd).
    Zstd,
    /// No media type: told from the first bytes.
    Sniff,
}

/// What a layer descriptor's media type says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerKind {
    pub compression: Compression,
    /// A Docker foreign or OCI non-distributable layer (Windows base layers): the registry
    /// need not hold it and it is never fetched from its `urls` unless asked
    /// (`--allow-nondistributable`).
    pub foreign: bool,
}

/// Media types runref reads, with what each means.
pub const LAYER_TYPES: &[(&str, Compression, bool)] = &[
    (
        "application/vnd.oci.image.layer.v1.tar",
        Compression::None,
        false,
    ),
    (
        "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Gzip,
        false,
    ),
    (
        "application/vnd.oci.image.layer.v1.tar+zstd",
        Compression::Zstd,
        false,
    ),
    (
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        Compression::Gzip,
        false,
    ),
    (
        "application/vnd.docker.image.rootfs.diff.tar",
        Compression::None,
        false,
    ),
    // containerd's Docker-schema zstd type, which BuildKit writes for compression=zstd when
    // the image has Docker media types (no attestations, no oci-mediatypes): found by the bench.
    (
        "application/vnd.docker.image.rootfs.diff.tar.zstd",
        Compression::Zstd,
        false,
    ),
    (
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        Compression::Gzip,
        true,
    ),
    (
        "application/vnd.docker.image.rootfs.foreign.diff.tar",
        Compression::None,
        true,
    ),
    (
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        Compression::None,
        true,
    ),
    (
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        Compression::Gzip,
        true,
    ),
    (
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        Compression::Zstd,
        true,
    ),
];

/// The kind of a layer from its media type; an unknown one is an error naming it.
pub fn kind(media_type: &str) -> Result<LayerKind, String> {
    if media_type.is_empty() {
        return Ok(LayerKind {
            compression: Compression::Sniff,
            foreign: false,
        });
    }
    LAYER_TYPES
        .iter()
        .find(|(t, _, _)| *t == media_type)
        .map(|&(_, compression, foreign)| LayerKind {
            compression,
            foreign,
        })
        .ok_or_else(|| {
            format!(
                "layer media type {media_type} is not one runref reads (tar, tar+gzip, tar+zstd, \
                 Docker's gzip and foreign layers, OCI non-distributable layers)"
            )
        })
}

/// A descriptor's media type names a foreign / non-distributable layer.
pub fn is_foreign(media_type: &str) -> bool {
    kind(media_type).is_ok_and(|k| k.foreign)
}

/// The largest zstd window a layer may ask for (libzstd's own default limit): 128 MiB, or
/// `RUNREF_MAX_ZSTD_WINDOW` bytes (rounded down to a power of two, 1 KiB to 2 GiB).
pub const ZSTD_WINDOW_MAX: u64 = 128 * 1024 * 1024;

/// log2 of the zstd window bound in force. A `RUNREF_MAX_ZSTD_WINDOW` that is not a number
/// of bytes from 1 KiB to 2 GiB is an error naming it (it was silently ignored).
pub fn zstd_window_log() -> Result<u32, String> {
    let bytes = match std::env::var("RUNREF_MAX_ZSTD_WINDOW").ok().filter(|v| !v.trim().is_empty()) {
        None => ZSTD_WINDOW_MAX,
        Some(v) => match v.trim().parse::<u64>() {
            Ok(b) if (1 << 10..=1 << 31).contains(&b) => b,
            _ => {
                return Err(format!(
                    "RUNREF_MAX_ZSTD_WINDOW={v:?} is not a number of bytes from 1024 to 2147483648 (e.g. 268435456 for 256 MiB)"
                ))
            }
        },
    };
    Ok(63 - bytes.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_type_and_an_unknown_one() {
        assert_eq!(
            kind("application/vnd.oci.image.layer.v1.tar+zstd").unwrap(),
            LayerKind {
                compression: Compression::Zstd,
                foreign: false
            }
        );
        assert!(is_foreign(
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        ));
        assert!(!is_foreign("application/vnd.oci.image.layer.v1.tar"));
        assert_eq!(
            kind("application/vnd.docker.image.rootfs.diff.tar.zstd")
                .unwrap()
                .compression,
            Compression::Zstd
        );
        let e = kind("application/x-tar+lz4").unwrap_err();
        assert!(e.contains("application/x-tar+lz4"), "{e}");
        assert_eq!(kind("").unwrap().compression, Compression::Sniff);
        assert_eq!(zstd_window_log(), Ok(27));
    }
}
