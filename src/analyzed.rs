//! analyzed.toml: a typed view for reading and a format-preserving editor for the one value
//! runref owns, `[run-image] reference`.
//!
//! Edits go through `toml_edit` keeping the old value's decor (comments and spacing around it),
//! so a rewrite changes exactly one value; every other byte, `[metadata]` included, is kept.
//! Writes are atomic: a temp file in the same directory, fsync, rename, then fsync of the
//! directory; the file's mode (and owner, when permitted) is kept. An unchanged document is not
//! written at all.

use std::io::Write;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Table, Value};

#[derive(Debug, thiserror::Error)]
pub enum AnalyzedError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: not valid TOML: {message}\n  the file was left untouched; was it truncated or edited by hand?")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: `{key}` must be {expected}")]
    Type {
        path: PathBuf,
        key: &'static str,
        expected: &'static str,
    },
    #[error("{path}: no [run-image] table; this does not look like an analyzed.toml written by the lifecycle analyzer or restorer")]
    NoRunImage { path: PathBuf },
    #[error("cannot write {path}: {why}\n  it would have set [run-image] reference = \"{value}\"; the original file was left untouched")]
    Write {
        path: PathBuf,
        /// The reason, naming the file's mode and owner where permissions refused it.
        why: String,
        /// The value that was not written.
        value: String,
    },
    #[error("{path} is {size} bytes, over runref's bound of {max} bytes for an analyzed.toml (lifecycle writes well under 1 MiB); raise it with RUNREF_MAX_ANALYZED_BYTES if this file is real")]
    TooLarge { path: PathBuf, size: u64, max: u64 },
}

/// The largest analyzed.toml read (16 MiB; `RUNREF_MAX_ANALYZED_BYTES` raises it): the parse
/// holds several times the file in memory, and lifecycle's files are far smaller.
pub const MAX_BYTES: u64 = 16 * 1024 * 1024;

fn max_bytes() -> u64 {
    std::env::var("RUNREF_MAX_ANALYZED_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MAX_BYTES)
}

const BOM: &str = "\u{feff}";

/// `[run-image.target]` (platform API >= 0.12).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Target {
    pub id: Option<String>,
    pub os: Option<String>,
    pub arch: Option<String>,
    pub arch_variant: Option<String>,
    pub distribution: Option<Distribution>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Distribution {
    pub name: Option<String>,
    pub version: Option<String>,
}

impl Target {
    /// The target as a platform, when it names at least os and arch.
    pub fn platform(&self) -> Option<crate::model::platform::Platform> {
        match (&self.os, &self.arch) {
            (Some(os), Some(arch)) if !os.is_empty() && !arch.is_empty() => Some(
                crate::model::platform::Platform::new(os, arch, self.arch_variant.as_deref()),
            ),
            _ => None,
        }
    }
}

/// `[run-image]`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RunImage {
    pub reference: Option<String>,
    pub image: Option<String>,
    pub extend: bool,
    pub target: Option<Target>,
}

/// `[metadata.run-image]`: what the previous app image recorded about its run image.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MetadataRunImage {
    pub top_layer: Option<String>,
    pub reference: Option<String>,
    pub image: Option<String>,
    pub mirrors: Vec<String>,
}

/// The typed view of an analyzed.toml, for platform APIs 0.7 to 0.14.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Analyzed {
    pub image: Option<String>,
    pub build_image: Option<String>,
    pub run_image: Option<RunImage>,
    pub metadata_run_image: Option<MetadataRunImage>,
}

/// An analyzed.toml loaded for reading and, possibly, one edit.
#[derive(Debug, Clone)]
pub struct AnalyzedFile {
    path: PathBuf,
    /// The file's text exactly as read (a UTF-8 BOM and CRLF line ends included).
    original: String,
    /// The parsed document (without the BOM), for the typed view.
    doc: DocumentMut,
    /// Where `[run-image] reference`'s value stands in `original`, and its new text: the write
    /// replaces exactly those bytes, so every other byte (line ends, BOM, comments) stays.
    edit: Option<(std::ops::Range<usize>, String)>,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl AnalyzedFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<AnalyzedFile, AnalyzedError> {
        let read = |source| AnalyzedError::Read {
            path: path.into(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read)?.len();
        let max = max_bytes();
        if size > max {
            return Err(AnalyzedError::TooLarge {
                path: path.into(),
                size,
                max,
            });
        }
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(std::fs::File::open(path).map_err(read)?, max + 1),
            &mut text,
        )
        .map_err(read)?;
        AnalyzedFile::parse(path, text)
    }

    /// Parses `text` as the content of `path`.
    pub fn parse(path: &Path, text: String) -> Result<AnalyzedFile, AnalyzedError> {
        let body = text.strip_prefix(BOM).unwrap_or(&text);
        let doc: DocumentMut = body.parse().map_err(|e: toml_edit::TomlError| {
            let (line, column) = line_col(body, e.span().map_or(0, |s| s.start));
            AnalyzedError::Syntax {
                path: path.into(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        let file = AnalyzedFile {
            path: path.into(),
            original: text,
            doc,
            edit: None,
        };
        file.view()?; // type errors surface at load, not at write time
        Ok(file)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The typed view of the current document.
    pub fn view(&self) -> Result<Analyzed, AnalyzedError> {
        let root = self.doc.as_table();
        let image = str_at(
            &self.path,
            table(root, "image"),
            "reference",
            "[image] reference",
        )?;
        let build_image = str_at(
            &self.path,
            table(root, "build-image"),
            "reference",
            "[build-image] reference",
        )?;
        let run_image = match table(root, "run-image") {
            None => None,
            Some(t) => Some(RunImage {
                reference: str_at(&self.path, Some(t), "reference", "[run-image] reference")?,
                image: str_at(&self.path, Some(t), "image", "[run-image] image")?,
                extend: match t.get("extend") {
                    None => false,
                    Some(i) => i.as_bool().ok_or(AnalyzedError::Type {
                        path: self.path.clone(),
                        key: "[run-image] extend",
                        expected: "a boolean",
                    })?,
                },
                target: match table(t, "target") {
                    None => None,
                    Some(tt) => Some(self.target(tt)?),
                },
            }),
        };
        let metadata_run_image = match table(root, "metadata").and_then(|m| table(m, "run-image")) {
            None => None,
            Some(t) => Some(MetadataRunImage {
                top_layer: str_at(
                    &self.path,
                    Some(t),
                    "top-layer",
                    "[metadata.run-image] top-layer",
                )?,
                reference: str_at(
                    &self.path,
                    Some(t),
                    "reference",
                    "[metadata.run-image] reference",
                )?,
                image: str_at(&self.path, Some(t), "image", "[metadata.run-image] image")?,
                mirrors: t
                    .get("mirrors")
                    .and_then(Item::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
        };
        Ok(Analyzed {
            image,
            build_image,
            run_image,
            metadata_run_image,
        })
    }

    fn target(&self, t: &Table) -> Result<Target, AnalyzedError> {
        let p = &self.path;
        Ok(Target {
            id: str_at(p, Some(t), "id", "[run-image.target] id")?,
            os: str_at(p, Some(t), "os", "[run-image.target] os")?,
            arch: str_at(p, Some(t), "arch", "[run-image.target] arch")?,
            arch_variant: str_at(
                p,
                Some(t),
                "arch-variant",
                "[run-image.target] arch-variant",
            )?,
            distribution: match table(t, "distribution") {
                None => None,
                Some(d) => Some(Distribution {
                    name: str_at(p, Some(d), "name", "[run-image.target.distribution] name")?,
                    version: str_at(
                        p,
                        Some(d),
                        "version",
                        "[run-image.target.distribution] version",
                    )?,
                }),
            },
        })
    }

    /// Sets `[run-image] reference`, keeping the comments and spacing around the old value.
    /// Returns whether the value changed.
    pub fn set_run_image_reference(&mut self, new: &str) -> Result<bool, AnalyzedError> {
        let path = self.path.clone();
        let Some(t) = self
            .doc
            .as_table_mut()
            .get_mut("run-image")
            .and_then(Item::as_table_mut)
        else {
            return Err(AnalyzedError::NoRunImage { path });
        };
        match t.get_mut("reference").and_then(Item::as_value_mut) {
            Some(v) if v.as_str() == Some(new) => Ok(false),
            Some(v) => {
                let decor = v.decor().clone();
                let mut fresh = Value::from(new);
                *fresh.decor_mut() = decor;
                *v = fresh;
                self.edit = value_span(&self.original).map(|span| {
                    (
                        span,
                        toml_edit::Formatted::new(new.to_string())
                            .display_repr()
                            .into_owned(),
                    )
                });
                Ok(true)
            }
            None => {
                t.insert("reference", toml_edit::value(new));
                Ok(true)
            }
        }
    }

    /// `[run-image] reference` as the document holds it now (after an edit, the new value).
    fn reference_value(&self) -> Option<String> {
        self.doc
            .get("run-image")
            .and_then(Item::as_table)
            .and_then(|t| t.get("reference"))
            .and_then(Item::as_str)
            .map(str::to_string)
    }

    /// The document as it would be written: the original bytes with the one value replaced;
    /// when the value had to be inserted, the re-rendered document in the file's own line ends
    /// and BOM.
    pub fn render(&self) -> String {
        if let Some((span, repr)) = &self.edit {
            let mut out = self.original.clone();
            out.replace_range(span.clone(), repr);
            return out;
        }
        let rendered = self.doc.to_string();
        if rendered == self.original.strip_prefix(BOM).unwrap_or(&self.original) {
            return self.original.clone();
        }
        let crlf = self.original.contains("\r\n");
        let body = if crlf {
            rendered.replace("\r\n", "\n").replace('\n', "\r\n")
        } else {
            rendered
        };
        if self.original.starts_with(BOM) {
            format!("{BOM}{body}")
        } else {
            body
        }
    }

    /// The pending change as a unified diff (`--- a/PATH`, `+++ b/PATH`, `@@ -l,n +l,n @@`, three
    /// lines of context) that `patch -p1` and `git apply` accept, run where PATH resolves.
    pub fn diff(&self) -> String {
        let new = self.render();
        if new == self.original {
            return String::new();
        }
        // A path that climbs (`../x`) is given absolute (git refuses `a/../x`): relative paths
        // apply from the working directory, absolute ones from `/`. Names with blanks, quotes
        // or backslashes are C-quoted, as git writes them (GNU patch reads them too).
        let climbs = self
            .path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
        let shown = match climbs {
            true => std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone()),
            false => self.path.clone(),
        };
        let name = shown.display().to_string();
        let name = name.trim_start_matches("./").trim_start_matches('/');
        let side = |prefix: &str| {
            let raw = format!("{prefix}/{name}");
            if raw
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b == b'"' || b == b'\\')
            {
                format!(
                    "\"{}\"",
                    raw.replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\t', "\\t")
                )
            } else {
                raw
            }
        };
        similar::TextDiff::from_lines(self.original.as_str(), new.as_str())
            .unified_diff()
            .context_radius(3)
            .header(&side("a"), &side("b"))
            .to_string()
    }

    /// Writes the document atomically when it changed. Returns whether it wrote. A symlinked
    /// file is followed: its target is replaced (in the target's directory) and the link stays.
    pub fn write(&mut self) -> Result<bool, AnalyzedError> {
        let new = self.render();
        if new == self.original {
            return Ok(false);
        }
        let err = |why: String| AnalyzedError::Write {
            path: self.path.clone(),
            why,
            value: self.reference_value().unwrap_or_default(),
        };
        let target = std::fs::canonicalize(&self.path).map_err(|e| err(e.to_string()))?;
        write_atomic(&target, new.as_bytes()).map_err(err)?;
        self.original = new;
        self.edit = None;
        Ok(true)
    }
}

/// The byte range of `[run-image] reference`'s value in `text` (a leading BOM counted).
fn value_span(text: &str) -> Option<std::ops::Range<usize>> {
    let (offset, body) = match text.strip_prefix(BOM) {
        Some(b) => (BOM.len(), b),
        None => (0, text),
    };
    let d = toml_edit::Document::parse(body).ok()?;
    let span = d
        .as_table()
        .get("run-image")?
        .as_table()?
        .get("reference")?
        .as_value()?
        .span()?;
    Some(span.start + offset..span.end + offset)
}

fn table<'a>(t: &'a Table, key: &str) -> Option<&'a Table> {
    t.get(key).and_then(Item::as_table)
}

fn str_at(
    path: &Path,
    t: Option<&Table>,
    key: &str,
    name: &'static str,
) -> Result<Option<String>, AnalyzedError> {
    match t.and_then(|t| t.get(key)) {
        None => Ok(None),
        Some(i) => i
            .as_str()
            .map(|s| Some(s.to_string()))
            .ok_or(AnalyzedError::Type {
                path: path.into(),
                key: name,
                expected: "a string",
            }),
    }
}

/// Temp file in the same directory, same mode (and owner when permitted), fsync, rename, fsync
/// of the directory. On any error the original is untouched and the temp file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let meta = std::fs::metadata(path).ok();
    let refused = |m: &std::fs::Metadata, e: std::io::Error| {
        format!(
            "{e} (mode {:04o}, owner uid {} gid {}); runref never replaces a file its user cannot write",
            m.permissions().mode() & 0o7777,
            m.uid(),
            m.gid()
        )
    };
    // A file the user may not write is refused, not replaced through its writable directory
    // (a rename would succeed where a write is forbidden). Opening for writing, without
    // truncating, asks the kernel exactly that and changes nothing.
    let existing = match &meta {
        Some(m) => Some(
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| refused(m, e))?,
        ),
        None => None,
    };
    let tmp = tempfile::Builder::new()
        .prefix(".runref-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| {
            format!(
                "cannot make a temporary file in {}: {}",
                dir.display(),
                plain(&e)
            )
        })?;
    let io = |e: std::io::Error| plain(&e);
    let mut tmp = tmp;
    tmp.write_all(bytes).map_err(io)?;
    if let (Some(m), Some(file)) = (&meta, existing) {
        std::fs::set_permissions(tmp.path(), m.permissions()).map_err(io)?;
        // Keep the owner and group (root rewriting a file owned by the build user). Where the
        // rename would change them (a user not in the file's group), the file is rewritten in
        // place instead: the user may write it, and its owner, group and mode stay.
        let _ = std::os::unix::fs::chown(tmp.path(), Some(m.uid()), Some(m.gid()));
        let t = tmp.as_file().metadata().map_err(io)?;
        if (t.uid(), t.gid()) != (m.uid(), m.gid()) {
            return rewrite_in_place(file, bytes).map_err(io);
        }
    }
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| plain(&e.error))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    Ok(())
}

/// Writes `bytes` over an open file and cuts it to their length, then syncs.
fn rewrite_in_place(mut file: std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0))?;
    file.write_all(bytes)?;
    file.set_len(bytes.len() as u64)?;
    file.sync_all()
}

/// An I/O error without the temporary file's name (tempfile adds it): errors name the
/// analyzed.toml, which is what the user knows.
fn plain(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
        None => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: &str = "run@sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const ID: &str = "3333333333333333333333333333333333333333333333333333333333333333";

    fn rewritten(text: &str) -> String {
        let mut f = AnalyzedFile::parse(Path::new("a.toml"), text.to_string()).unwrap();
        assert!(f.set_run_image_reference(ID).unwrap());
        f.render()
    }

    #[test]
    fn crlf_and_bom_are_kept_and_only_the_value_changes() {
        let lf = format!("[image]\n  reference = \"\"\n\n[run-image]\n  reference = \"{REF}\" # per-arch\n  image = \"run:1\"\n");
        let crlf = lf.replace('\n', "\r\n");
        let bom = format!("{BOM}{crlf}");
        for text in [&lf, &crlf, &bom] {
            let out = rewritten(text);
            assert_eq!(out, text.replace(REF, ID), "{text:?}");
        }
        // A literal string is replaced by a basic string; nothing else moves.
        let lit = lf.replace(&format!("\"{REF}\""), &format!("'{REF}'"));
        assert_eq!(rewritten(&lit), lf.replace(REF, ID));
    }

    #[test]
    fn a_symlinked_file_is_rewritten_through_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let target = real.join("analyzed.toml");
        std::fs::write(
            &target,
            format!("[run-image]\r\n  reference = \"{REF}\"\r\n"),
        )
        .unwrap();
        let link = dir.path().join("analyzed.toml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let mut f = AnalyzedFile::load(&link).unwrap();
        f.set_run_image_reference(ID).unwrap();
        assert!(f.write().unwrap());
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            format!("[run-image]\r\n  reference = \"{ID}\"\r\n")
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 2, "no temp file left beside the link");
    }

    #[test]
    fn a_file_over_the_bound_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("analyzed.toml");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_BYTES + 1).unwrap();
        let e = AnalyzedFile::load(&path).unwrap_err().to_string();
        assert!(e.contains("RUNREF_MAX_ANALYZED_BYTES"), "{e}");
    }

    const FILE: &str = r#"# written by the restorer
[image]
  reference = "app@sha256:1111111111111111111111111111111111111111111111111111111111111111"

[run-image]
  reference = 'run@sha256:2222222222222222222222222222222222222222222222222222222222222222' # per-arch
  image = "run:1"
  extend = true
  [run-image.target]
    os = "linux"
    arch = "arm64"
    arch-variant = "v8"
    [run-image.target.distribution]
      name = "ubuntu"
      version = "22.04"

[metadata]
  [metadata.run-image]
    top-layer = "sha256:3333"
    reference = "old"
    mirrors = ["m1", "m2"]
"#;

    fn load(text: &str) -> AnalyzedFile {
        AnalyzedFile::parse(Path::new("analyzed.toml"), text.to_string()).unwrap()
    }

    #[test]
    fn typed_view() {
        let v = load(FILE).view().unwrap();
        let r = v.run_image.unwrap();
        assert!(r.reference.unwrap().starts_with("run@sha256:2222"));
        assert_eq!(r.image.as_deref(), Some("run:1"));
        assert!(r.extend);
        let t = r.target.unwrap();
        assert_eq!(t.platform().unwrap().to_string(), "linux/arm64");
        assert_eq!(t.distribution.unwrap().version.as_deref(), Some("22.04"));
        let m = v.metadata_run_image.unwrap();
        assert_eq!(m.top_layer.as_deref(), Some("sha256:3333"));
        assert_eq!(m.mirrors, vec!["m1", "m2"]);
        assert!(v.image.unwrap().starts_with("app@"));
        assert_eq!(v.build_image, None);
    }

    #[test]
    fn one_value_changes_and_decor_survives() {
        let mut f = load(FILE);
        assert!(f.set_run_image_reference("abc").unwrap());
        let out = f.render();
        let changed: Vec<_> = FILE
            .lines()
            .zip(out.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(FILE.lines().count(), out.lines().count());
        assert_eq!(changed.len(), 1, "{out}");
        assert_eq!(changed[0].1, r#"  reference = "abc" # per-arch"#);
        let d = f.diff();
        assert!(
            d.starts_with("--- a/analyzed.toml\n+++ b/analyzed.toml\n@@ -3,7 +3,7 @@\n")
                && d.contains("\n-  reference = 'run@")
                && d.contains("\n+  reference = \"abc\""),
            "{d}"
        );
    }

    /// `--dry-run`'s diff is a real unified diff: `git apply` and `patch` both apply it and
    /// give exactly the file runref would write (issue 19: it was `@@ line 5 @@`), also for a
    /// path with a blank (quoted, as git writes it).
    #[test]
    fn the_diff_applies_with_git_apply_and_patch() {
        for (tool, rel) in [
            ("git", "analyzed.toml"),
            ("patch", "analyzed.toml"),
            ("git", "layers dir/analyzed.toml"),
            ("patch", "layers dir/analyzed.toml"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, FILE).unwrap();
            let mut f = AnalyzedFile::parse(Path::new(rel), FILE.to_string()).unwrap();
            assert!(f.set_run_image_reference("abc").unwrap());
            std::fs::write(dir.path().join("change.diff"), f.diff()).unwrap();
            let args: &[&str] = match tool {
                "git" => &["apply", "change.diff"],
                _ => &["-p1", "-i", "change.diff"],
            };
            let o = std::process::Command::new(tool)
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap_or_else(|e| {
                    panic!("{tool} is needed by this test (scripts/test-env installs it): {e}")
                });
            assert!(
                o.status.success(),
                "{tool}: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                f.render(),
                "{tool}"
            );
        }
    }

    #[test]
    fn same_value_is_no_change() {
        let mut f = load(FILE);
        let cur = f.view().unwrap().run_image.unwrap().reference.unwrap();
        assert!(!f.set_run_image_reference(&cur).unwrap());
        assert_eq!(f.render(), FILE);
        assert_eq!(f.diff(), "");
    }

    #[test]
    fn missing_reference_is_inserted_missing_table_is_error() {
        let mut f = load("[run-image]\n  image = \"run:1\"\n");
        assert!(f.set_run_image_reference("x").unwrap());
        assert!(f.render().contains("reference = \"x\""));
        let mut g = load("[image]\nreference = \"a\"\n");
        assert!(matches!(
            g.set_run_image_reference("x"),
            Err(AnalyzedError::NoRunImage { .. })
        ));
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let e = AnalyzedFile::parse(
            Path::new("/x/analyzed.toml"),
            "[run-image]\nreference = \n".into(),
        )
        .unwrap_err();
        let AnalyzedError::Syntax { line, column, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!((*line, *column), (2, 13));
        assert!(e.to_string().starts_with("/x/analyzed.toml:2:13:"), "{e}");
    }

    #[test]
    fn type_errors_name_the_key() {
        let e = AnalyzedFile::parse(Path::new("a.toml"), "[run-image]\nreference = 5\n".into())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[run-image] reference") && e.contains("a string"),
            "{e}"
        );
    }

    #[test]
    fn atomic_write_keeps_mode_and_skips_unchanged() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("analyzed.toml");
        std::fs::write(&p, FILE).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut f = AnalyzedFile::load(&p).unwrap();
        assert!(!f.write().unwrap(), "unchanged: not written");
        let ino_before = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&p).unwrap());
        f.set_run_image_reference("new").unwrap();
        assert!(f.write().unwrap());
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert_ne!(
            std::os::unix::fs::MetadataExt::ino(&meta),
            ino_before,
            "renamed into place"
        );
        assert!(std::fs::read_to_string(&p)
            .unwrap()
            .contains("reference = \"new\""));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file left");
    }
}
