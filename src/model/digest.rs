//! Content digests (`sha256:<64 hex>`) and daemon image IDs.
//!
//! Only sha256 is accepted: it is the only algorithm Docker, podman and the distribution
//! registry produce for image content, and accepting others would mean trusting bytes we
//! cannot check.

use sha2::{Digest as _, Sha256};
use std::fmt;
use std::str::FromStr;

/// Why a digest or image ID could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("invalid digest {input:?}: {reason}")]
    Invalid { input: String, reason: &'static str },
    #[error("invalid digest {input:?}: algorithm {algorithm:?} is not supported (only sha256)")]
    UnsupportedAlgorithm { input: String, algorithm: String },
    #[error("content does not match its digest: expected {expected}, got {actual}")]
    Mismatch { expected: Digest, actual: Digest },
}

/// A validated `sha256:` content digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

fn is_lower_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest {
            hex: hex::encode(Sha256::digest(bytes)),
        }
    }

    /// The 64 lower-case hex characters, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Checks that `bytes` hash to this digest.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), DigestError> {
        let actual = Digest::of(bytes);
        if &actual == self {
            Ok(())
        } else {
            Err(DigestError::Mismatch {
                expected: self.clone(),
                actual,
            })
        }
    }

    /// Short form for human output: `sha256:0123456789ab`.
    pub fn short(&self) -> String {
        format!("sha256:{}", &self.hex[..12])
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let Some((algorithm, hex)) = input.split_once(':') else {
            return Err(DigestError::Invalid {
                input: input.into(),
                reason: "expected <algorithm>:<hex>, e.g. sha256:<64 hex characters>",
            });
        };
        if algorithm != "sha256" {
            return Err(DigestError::UnsupportedAlgorithm {
                input: input.into(),
                algorithm: algorithm.into(),
            });
        }
        if !is_lower_hex64(hex) {
            return Err(DigestError::Invalid {
                input: input.into(),
                reason: "a sha256 digest is 64 lower-case hex characters",
            });
        }
        Ok(Digest { hex: hex.into() })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A digest in a manifest is checked as it is read: one parse, at the edge.
impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A daemon image ID. Docker's classic store and podman use the config digest; Docker's
/// containerd store uses the digest of the manifest or index that was pulled. Lifecycle writes
/// it into analyzed.toml as 64 hex characters without the `sha256:` prefix (imgutil's local
/// identifier trims it), and that is how [`fmt::Display`] renders it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageId(Digest);

impl ImageId {
    /// The image whose ID is `digest` (containerd store: the manifest or index digest).
    pub fn from_digest(digest: Digest) -> ImageId {
        ImageId(digest)
    }

    /// Parses `sha256:<hex>` or bare `<hex>` (64 lower-case hex characters).
    pub fn parse(input: &str) -> Result<ImageId, DigestError> {
        let trimmed = input.strip_prefix("sha256:").unwrap_or(input);
        if is_lower_hex64(trimmed) {
            Ok(ImageId(Digest {
                hex: trimmed.into(),
            }))
        } else {
            Err(DigestError::Invalid {
                input: input.into(),
                reason:
                    "an image ID is 64 lower-case hex characters, optionally prefixed by sha256:",
            })
        }
    }

    /// True when `input` has the shape of an image ID (so it is not a name).
    pub fn looks_like(input: &str) -> bool {
        is_lower_hex64(input.strip_prefix("sha256:").unwrap_or(input))
    }

    /// The ID as a digest (`sha256:<hex>`), as the Engine API reports `Id`.
    pub fn digest(&self) -> &Digest {
        &self.0
    }

    /// `sha256:<hex>`, the form the Engine API accepts and returns.
    pub fn long(&self) -> String {
        self.0.to_string()
    }
}

impl From<Digest> for ImageId {
    fn from(d: Digest) -> Self {
        ImageId(d)
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.hex())
    }
}

impl serde::Serialize for ImageId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_sha256_only() {
        let d: Digest = format!("sha256:{HEX}").parse().unwrap();
        assert_eq!(d.hex(), HEX);
        assert_eq!(d.to_string(), format!("sha256:{HEX}"));
        assert!(matches!(
            format!("sha512:{HEX}").parse::<Digest>(),
            Err(DigestError::UnsupportedAlgorithm { .. })
        ));
        assert!(format!("sha256:{}", HEX.to_uppercase())
            .parse::<Digest>()
            .is_err());
        assert!(format!("sha256:{}", &HEX[1..]).parse::<Digest>().is_err());
        assert!(HEX.parse::<Digest>().is_err());
        let err = "md5:abc".parse::<Digest>().unwrap_err().to_string();
        assert!(
            err.contains("md5:abc") && err.contains("only sha256"),
            "{err}"
        );
    }

    #[test]
    fn verifies_content() {
        let d = Digest::of(b"hello");
        assert_eq!(
            d.hex(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(d.verify(b"hello").is_ok());
        assert!(matches!(
            d.verify(b"hellO"),
            Err(DigestError::Mismatch { .. })
        ));
    }

    #[test]
    fn image_id_forms() {
        let a = ImageId::parse(HEX).unwrap();
        let b = ImageId::parse(&format!("sha256:{HEX}")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), HEX, "lifecycle's form has no prefix");
        assert_eq!(a.long(), format!("sha256:{HEX}"));
        assert!(ImageId::parse("abc").is_err());
        assert!(ImageId::looks_like(HEX));
        assert!(!ImageId::looks_like("ubuntu"));
    }
}
