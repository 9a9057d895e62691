//! Image archives as `docker save` / `GET /images/{id}/get` write them (an OCI layout in a
//! tar): the check made before loading one back, and the chunked body that loads it.

use crate::model::digest::Digest;
use std::io::Read;
use std::path::Path;

/// index.json larger than this is not an export of one platform.
const INDEX_MAX: u64 = 4 * 1024 * 1024;
/// Annotations that would make a load name (tag) the loaded image.
const NAME_ANNOTATIONS: &[&str] = &[
    "io.containerd.image.name",
    "org.opencontainers.image.ref.name",
];

/// Checks that the archive at `path` holds exactly one image, the manifest `want`, and names
/// nothing: loading it then adds one untagged image and moves no tag. An Engine below API
/// 1.48 ignores `platform=` and exports the whole index, which fails here.
pub fn check_single_platform(path: &Path, want: &Digest) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut archive = tar::Archive::new(file);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let is_index = entry
            .path()
            .map(|p| p.as_os_str() == "index.json")
            .unwrap_or(false);
        if !is_index {
            continue;
        }
        if entry.size() > INDEX_MAX {
            return Err(format!("has an index.json over {INDEX_MAX} bytes"));
        }
        let mut text = String::new();
        entry
            .take(INDEX_MAX)
            .read_to_string(&mut text)
            .map_err(|e| e.to_string())?;
        let index: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("index.json: {e}"))?;
        let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
        let [only] = manifests.as_slice() else {
            return Err(format!(
                "holds {} images, not the one platform asked for (the daemon ignored platform=)",
                manifests.len()
            ));
        };
        if only["digest"].as_str() != Some(want.to_string().as_str()) {
            return Err(format!(
                "holds {}, not the expected manifest {want}",
                only["digest"].as_str().unwrap_or("?")
            ));
        }
        if let Some(a) = NAME_ANNOTATIONS
            .iter()
            .find(|a| only["annotations"][**a].is_string())
        {
            return Err(format!("names an image ({a}); loading it would move a tag"));
        }
        return Ok(());
    }
    Err("has no index.json".into())
}

/// A file as a stream of 64 KiB chunks, for request bodies of any size.
pub fn chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(index: &serde_json::Value) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut b = tar::Builder::new(f.reopen().unwrap());
        let body = serde_json::to_vec(index).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "index.json", body.as_slice())
            .unwrap();
        b.finish().unwrap();
        f
    }

    #[test]
    fn only_one_unnamed_expected_manifest_is_loaded() {
        let want = Digest::of(b"arm64");
        let other = Digest::of(b"amd64");
        let one = |d: &Digest, ann: serde_json::Value| serde_json::json!({"manifests": [{"digest": d.to_string(), "annotations": ann}]});
        let ok = archive(&one(
            &want,
            serde_json::json!({"containerd.io/distribution.source.docker.io": "x/y"}),
        ));
        assert_eq!(check_single_platform(ok.path(), &want), Ok(()));
        let wrong = archive(&one(&other, serde_json::json!({})));
        assert!(check_single_platform(wrong.path(), &want)
            .unwrap_err()
            .contains("not the expected"));
        let named = archive(&one(
            &want,
            serde_json::json!({"io.containerd.image.name": "x/y:1"}),
        ));
        assert!(check_single_platform(named.path(), &want)
            .unwrap_err()
            .contains("move a tag"));
        let whole = archive(
            &serde_json::json!({"manifests": [{"digest": want.to_string()}, {"digest": other.to_string()}]}),
        );
        assert!(check_single_platform(whole.path(), &want)
            .unwrap_err()
            .contains("ignored platform="));
    }
}
