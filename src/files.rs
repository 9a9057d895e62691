//! Local files runref reads whole (certificates, registries.conf): never more than a bound.

use std::io::Read;
use std::path::Path;

/// The file's bytes, refused past `limit` bytes; the error says why, for the caller to name
/// the file.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    if buf.len() as u64 > limit {
        return Err(format!("larger than {limit} bytes"));
    }
    Ok(buf)
}
