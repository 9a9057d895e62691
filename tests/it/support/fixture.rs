//! Builds real-shaped images for tests: OCI layouts (OCI index or Docker manifest list), with
//! optional attestation manifests, entries without variants, configs that disagree with their
//! index entry, and layers holding tiny ELF executables of a chosen machine type. Pushes them
//! with skopeo, loads daemon-only images with `docker load`'s archive format. Returns every
//! digest it made so tests assert exact values.

use runref::model::digest::Digest;
use runref::model::manifest::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// How a fixture's layer is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LayerCompression {
    #[default]
    Gzip,
    Zstd,
    Uncompressed,
    /// eStargz's shape (stargz-snapshotter `estargz`): every tar entry its own gzip member, a
    /// `stargz.index.json` table of contents entry, then a footer member whose gzip extra
    /// field holds `STARGZ` and the TOC offset. Media type tar+gzip, as BuildKit writes it.
    Estargz,
}

/// PE/COFF machine types (IMAGE_FILE_MACHINE_*).
pub mod pe {
    pub const I386: u16 = 0x14c;
    pub const AMD64: u16 = 0x8664;
    pub const ARM64: u16 = 0xaa64;
    pub const ARMNT: u16 = 0x1c4;
}

/// The PE machine a Windows platform's executables have.
pub fn pe_for(arch: &str) -> u16 {
    match arch {
        "amd64" => pe::AMD64,
        "arm64" => pe::ARM64,
        "arm" => pe::ARMNT,
        "386" => pe::I386,
        other => panic!("no PE machine for {other}"),
    }
}

/// A minimal PE image: the MZ stub with e_lfanew, then `PE\0\0` and the COFF header.
pub fn pe_bytes(machine: u16) -> Vec<u8> {
    let mut b = vec![0u8; 0x80];
    b[0] = b'M';
    b[1] = b'Z';
    b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    b.extend_from_slice(b"PE\0\0");
    b.extend_from_slice(&machine.to_le_bytes());
    b.extend_from_slice(&[0u8; 18]);
    b.extend_from_slice(b"runref test executable\n");
    b
}

/// `name` plus this process's id and a timestamp: unique across runs.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// ELF machine types (e_machine).
pub mod elf {
    pub const X86_64: u16 = 62;
    pub const AARCH64: u16 = 183;
    pub const ARM: u16 = 40;
    pub const I386: u16 = 3;
    pub const S390: u16 = 22;
    pub const PPC64: u16 = 21;
    pub const RISCV: u16 = 243;
}

/// The ELF machine a platform's binaries have.
pub fn elf_for(arch: &str) -> u16 {
    match arch {
        "amd64" => elf::X86_64,
        "arm64" => elf::AARCH64,
        "arm" => elf::ARM,
        "386" => elf::I386,
        "s390x" => elf::S390,
        "ppc64le" => elf::PPC64,
        "riscv64" => elf::RISCV,
        other => panic!("no ELF machine for {other}"),
    }
}

/// One platform image to build.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    /// os/arch[/variant] written into the index entry.
    pub platform: String,
    /// What the config says; defaults to `platform` (set it to make the config lie).
    pub config_platform: Option<String>,
    /// Omit the variant from the index entry (seed 002).
    pub entry_without_variant: bool,
    /// ELF machine of /bin/app in the layer; defaults to the config architecture's machine.
    pub elf_machine: Option<u16>,
    /// No ELF file at all (a data-only image).
    pub no_elf: bool,
    /// How the layer is stored (gzip by default).
    pub compression: LayerCompression,
    /// Zero bytes after the tar's end-of-archive blocks (GNU tar pads to 10 KiB records).
    pub trailing_zeros: usize,
    /// Windows: `os.version` in the index entry and the config.
    pub os_version: Option<String>,
    /// Windows: the PE machine of `Files/app.exe`; defaults to the architecture's.
    pub pe_machine: Option<u16>,
    /// A foreign base layer first (Docker's foreign type, with `urls`), whose blob is in no
    /// registry, as Windows base images have.
    pub foreign_base: bool,
    /// A layer media type that lies about the bytes (a zstd layer labelled gzip).
    pub layer_media_type: Option<&'static str>,
    /// With `foreign_base`: the URL the base layer names, whose bytes are a real Windows base
    /// layer (a PE of the platform's machine at Files/Windows/System32/base.exe).
    pub foreign_url: Option<String>,
}

impl ImageSpec {
    pub fn new(platform: &str) -> ImageSpec {
        ImageSpec {
            platform: platform.into(),
            config_platform: None,
            entry_without_variant: false,
            elf_machine: None,
            no_elf: false,
            compression: LayerCompression::Gzip,
            trailing_zeros: 0,
            os_version: None,
            pe_machine: None,
            foreign_base: false,
            layer_media_type: None,
            foreign_url: None,
        }
    }

    pub fn compressed(mut self, c: LayerCompression) -> Self {
        self.compression = c;
        self
    }

    pub fn windows(platform: &str, os_version: &str) -> ImageSpec {
        let mut s = ImageSpec::new(platform);
        s.os_version = Some(os_version.into());
        s
    }
}

/// A multi-platform image to build.
#[derive(Clone, Debug)]
pub struct IndexSpec {
    pub images: Vec<ImageSpec>,
    pub attestations: bool,
    /// Docker manifest list + Docker v2 manifests instead of OCI types.
    pub docker: bool,
    /// Makes content unique to this fixture (so digests differ between tests).
    pub salt: String,
}

impl IndexSpec {
    /// `salt` is made unique to this run, so images never collide with earlier runs' images
    /// in a daemon or registry that outlived them.
    pub fn new(salt: &str, platforms: &[&str]) -> IndexSpec {
        IndexSpec {
            images: platforms.iter().map(|p| ImageSpec::new(p)).collect(),
            attestations: false,
            docker: false,
            salt: unique(salt),
        }
    }
    pub fn with_attestations(mut self) -> Self {
        self.attestations = true;
        self
    }
    /// The salt exactly as given: the same digests on every run (golden files).
    pub fn fixed(salt: &str, platforms: &[&str]) -> IndexSpec {
        IndexSpec {
            salt: salt.into(),
            ..IndexSpec::new(salt, platforms)
        }
    }
    pub fn docker(mut self) -> Self {
        self.docker = true;
        self
    }
}

/// What was built for one platform.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    pub platform: String,
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    pub layer_digest: Digest,
    /// Uncompressed layer digest: the top (only) diff ID.
    pub diff_id: Digest,
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub layer_gz: Vec<u8>,
    pub layer_tar: Vec<u8>,
    /// With `foreign_url`: the foreign base layer's bytes (served from that URL, never pushed).
    pub foreign_layer: Option<Vec<u8>>,
}

/// What was built for an index.
#[derive(Debug)]
pub struct BuiltIndex {
    pub index_digest: Digest,
    pub index: Vec<u8>,
    pub images: Vec<BuiltImage>,
    pub attestation_digests: Vec<Digest>,
    pub layout: PathBuf,
    /// Docker media types (pushed through the registry API, not skopeo).
    pub docker: bool,
    _dir: tempfile::TempDir,
}

impl BuiltIndex {
    pub fn image(&self, platform: &str) -> &BuiltImage {
        self.images
            .iter()
            .find(|i| i.platform == platform)
            .unwrap_or_else(|| panic!("no {platform} in fixture"))
    }
}

fn split_platform(p: &str) -> (String, String, Option<String>) {
    let parts: Vec<&str> = p.split('/').collect();
    (
        parts[0].into(),
        parts[1].into(),
        parts.get(2).map(|s| s.to_string()),
    )
}

fn platform_json(p: &str, with_variant: bool) -> Value {
    let (os, arch, variant) = split_platform(p);
    let mut v = json!({"architecture": arch, "os": os});
    if let (Some(var), true) = (variant, with_variant) {
        v["variant"] = json!(var);
    }
    v
}

/// A minimal ELF header (enough for `e_ident` and `e_machine`) plus a marker.
pub fn elf_bytes(machine: u16) -> Vec<u8> {
    let class64 = !matches!(machine, elf::ARM | elf::I386);
    let big_endian = machine == elf::S390;
    let mut b = vec![0x7f, b'E', b'L', b'F'];
    b.push(if class64 { 2 } else { 1 });
    b.push(if big_endian { 2 } else { 1 });
    b.push(1); // version
    b.resize(16, 0);
    let u16b = |x: u16| {
        if big_endian {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        }
    };
    b.extend_from_slice(&u16b(2)); // e_type = EXEC
    b.extend_from_slice(&u16b(machine));
    b.resize(64, 0);
    b.extend_from_slice(b"runref test binary\n");
    b
}

fn tar_with(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        builder.append_data(&mut h, path, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// An eStargz-shaped gzip stream of `tar`: a member per 512-byte-aligned tar entry, the TOC
/// entry in a member of its own, the end-of-archive blocks, then the 51-byte footer member.
fn estargz(tar: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(tar);
    let mut offsets = vec![];
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        let start = e.raw_header_position() as usize;
        let end = e.raw_file_position() as usize + (e.size() as usize).div_ceil(512) * 512;
        offsets.push((start, end));
    }
    for (start, end) in offsets {
        out.extend(gzip(&tar[start..end]));
    }
    let toc = br#"{"version":1,"entries":[]}"#;
    let mut h = tar::Header::new_gnu();
    h.set_size(toc.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    let mut t = tar::Builder::new(Vec::new());
    t.append_data(&mut h, "stargz.index.json", &toc[..])
        .unwrap();
    let toc_offset = out.len();
    out.extend(gzip(&t.into_inner().unwrap()));
    // The footer: an empty gzip member whose FEXTRA holds "%016xSTARGZ" (the TOC offset).
    let extra = format!("{toc_offset:016x}STARGZ");
    let mut footer = vec![0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff];
    footer.extend((extra.len() as u16 + 4).to_le_bytes());
    footer.extend([b'S', b'G']);
    footer.extend((extra.len() as u16).to_le_bytes());
    footer.extend(extra.as_bytes());
    // An empty stored deflate block (what Go writes at NoCompression), then CRC-32 and size.
    footer.extend([1, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(footer.len(), 51, "eStargz's footer size");
    out.extend(footer);
    out
}

/// Layer tar for one image spec.
pub fn layer_for(spec: &ImageSpec, salt: &str) -> Vec<u8> {
    let cfg = spec.config_platform.as_deref().unwrap_or(&spec.platform);
    let (os, arch, _) = split_platform(cfg);
    let marker = format!("{salt} {}\n", spec.platform);
    if os == "windows" {
        // A Windows layer as containerd and hcsshim write it: Files/ and Hives/, executables
        // without execute bits.
        let exe = pe_bytes(spec.pe_machine.unwrap_or_else(|| pe_for(&arch)));
        let mut files: Vec<(&str, &[u8], u32)> = vec![
            ("Files/runref-fixture.txt", marker.as_bytes(), 0o644),
            ("Hives/DefaultUser_Delta", b"regf", 0o644),
        ];
        if !spec.no_elf {
            files.push(("Files/Windows/System32/app.exe", &exe, 0o644));
        }
        return tar_with(&files);
    }
    let norm = runref::model::platform::Platform::new("linux", &arch, None);
    let elf = elf_bytes(spec.elf_machine.unwrap_or_else(|| elf_for(norm.arch())));
    let mut files: Vec<(&str, &[u8], u32)> = vec![("etc/runref-fixture", marker.as_bytes(), 0o644)];
    if !spec.no_elf {
        files.push(("bin/app", &elf, 0o755));
    }
    tar_with(&files)
}

fn config_json(platform: &str, os_version: Option<&str>, diff_id: &Digest, salt: &str) -> Vec<u8> {
    let (os, arch, variant) = split_platform(platform);
    let mut c = json!({
        "architecture": arch,
        "os": os,
        "config": {"Env": ["PATH=/bin"], "Labels": {"io.runref.fixture": salt}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "created": "2026-01-01T00:00:00Z",
    });
    if let Some(v) = variant {
        c["variant"] = json!(v);
    }
    if let Some(v) = os_version {
        c["os.version"] = json!(v);
    }
    serde_json::to_vec(&c).unwrap()
}

fn write_blob(layout: &Path, bytes: &[u8]) -> Digest {
    let d = Digest::of(bytes);
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(d.hex()), bytes).unwrap();
    d
}

/// Builds one platform image's blobs into `layout`.
fn build_image(layout: &Path, spec: &ImageSpec, salt: &str, docker: bool) -> BuiltImage {
    let mut layer_tar = layer_for(spec, salt);
    layer_tar.resize(layer_tar.len() + spec.trailing_zeros, 0);
    let layer_gz = match spec.compression {
        LayerCompression::Gzip => gzip(&layer_tar),
        LayerCompression::Zstd => zstd::encode_all(&layer_tar[..], 3).unwrap(),
        LayerCompression::Uncompressed => layer_tar.clone(),
        LayerCompression::Estargz => estargz(&layer_tar),
    };
    let diff_id = Digest::of(&layer_tar);
    let layer_digest = write_blob(layout, &layer_gz);
    let cfg_platform = spec.config_platform.as_deref().unwrap_or(&spec.platform);
    let config = config_json(cfg_platform, spec.os_version.as_deref(), &diff_id, salt);
    let config_digest = write_blob(layout, &config);
    let (mt, cmt, mut lmt) = if docker {
        (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
    } else {
        (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
    };
    match spec.compression {
        LayerCompression::Gzip | LayerCompression::Estargz => {}
        LayerCompression::Zstd => lmt = OCI_LAYER_ZSTD,
        LayerCompression::Uncompressed => lmt = OCI_LAYER_TAR,
    }
    if let Some(t) = spec.layer_media_type {
        lmt = t;
    }
    let own = json!({"mediaType": lmt, "digest": layer_digest.to_string(), "size": layer_gz.len()});
    let mut foreign_layer = None;
    let layers = if spec.foreign_base {
        let (bytes, url) = match &spec.foreign_url {
            Some(url) => {
                let (_, arch, _) = split_platform(&spec.platform);
                let exe = pe_bytes(pe_for(&arch));
                let t = tar_with(&[("Files/Windows/System32/base.exe", &exe, 0o644)]);
                (gzip(&t), url.clone())
            }
            None => (
                format!("foreign base of {salt}").into_bytes(),
                "https://mcr.microsoft.invalid/v2/windows/servercore/blobs/base".to_string(),
            ),
        };
        let entry = json!([{
            "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "digest": Digest::of(&bytes).to_string(),
            "size": bytes.len(),
            "urls": [url],
        }, own]);
        if spec.foreign_url.is_some() {
            foreign_layer = Some(bytes);
        }
        entry
    } else {
        json!([own])
    };
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": cmt, "digest": config_digest.to_string(), "size": config.len()},
        "layers": layers,
    }))
    .unwrap();
    let manifest_digest = write_blob(layout, &manifest);
    BuiltImage {
        platform: spec.platform.clone(),
        manifest_digest,
        config_digest,
        layer_digest,
        diff_id,
        manifest,
        config,
        layer_gz,
        layer_tar,
        foreign_layer,
    }
}

/// An attestation manifest for `subject`, as BuildKit writes it.
fn build_attestation(layout: &Path, subject: &Digest, salt: &str) -> (Digest, usize) {
    let stmt = serde_json::to_vec(&json!({"_type": "https://in-toto.io/Statement/v0.1", "subject": [{"digest": {"sha256": subject.hex()}}], "salt": salt})).unwrap();
    let stmt_d = write_blob(layout, &stmt);
    let cfg = b"{}".to_vec();
    let cfg_d = write_blob(layout, &cfg);
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_d.to_string(), "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": stmt_d.to_string(), "size": stmt.len(),
                    "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}],
    }))
    .unwrap();
    (write_blob(layout, &m), m.len())
}

/// Builds an index (or manifest list) and writes it as an OCI layout tagged `tag`.
pub fn build_index(spec: &IndexSpec, tag: &str) -> BuiltIndex {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().to_path_buf();
    let mut images = Vec::new();
    let mut entries = Vec::new();
    let mut attestation_digests = Vec::new();
    for s in &spec.images {
        let img = build_image(&layout, s, &spec.salt, spec.docker);
        let mut platform = platform_json(&s.platform, !s.entry_without_variant);
        if let Some(v) = &s.os_version {
            platform["os.version"] = json!(v);
        }
        entries.push(json!({
            "mediaType": if spec.docker { DOCKER_MANIFEST } else { OCI_MANIFEST },
            "digest": img.manifest_digest.to_string(),
            "size": img.manifest.len(),
            "platform": platform,
        }));
        images.push(img);
    }
    if spec.attestations {
        assert!(!spec.docker, "BuildKit attestations need an OCI index");
        for img in &images {
            let (d, size) = build_attestation(&layout, &img.manifest_digest, &spec.salt);
            entries.push(json!({
                "mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": size,
                "annotations": {"vnd.docker.reference.digest": img.manifest_digest.to_string(),
                                "vnd.docker.reference.type": "attestation-manifest"},
                "platform": {"architecture": "unknown", "os": "unknown"},
            }));
            attestation_digests.push(d);
        }
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": if spec.docker { DOCKER_LIST } else { OCI_INDEX },
        "manifests": entries,
    }))
    .unwrap();
    let index_digest = write_blob(&layout, &index);
    // skopeo's layout reader only looks at OCI-typed root entries; the blob keeps its own
    // (Docker) media type and is copied byte for byte with --preserve-digests.
    write_layout_root(&layout, &index_digest, index.len(), OCI_INDEX, tag);
    BuiltIndex {
        index_digest,
        index,
        images,
        attestation_digests,
        layout,
        docker: spec.docker,
        _dir: dir,
    }
}

/// Builds a single-platform image (no index) as an OCI layout tagged `tag`.
pub fn build_single(spec: &ImageSpec, salt: &str, tag: &str) -> BuiltIndex {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().to_path_buf();
    let img = build_image(&layout, spec, salt, false);
    write_layout_root(
        &layout,
        &img.manifest_digest,
        img.manifest.len(),
        OCI_MANIFEST,
        tag,
    );
    BuiltIndex {
        index_digest: img.manifest_digest.clone(),
        index: img.manifest.clone(),
        images: vec![img],
        attestation_digests: vec![],
        layout,
        docker: false,
        _dir: dir,
    }
}

fn write_layout_root(layout: &Path, digest: &Digest, size: usize, mt: &str, tag: &str) {
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let root = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": mt, "digest": digest.to_string(), "size": size,
        "annotations": {"org.opencontainers.image.ref.name": tag}}]});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&root).unwrap(),
    )
    .unwrap();
}

/// Pushes the layout unchanged (`--all --preserve-digests`) to `dest` (`host:port/repo:tag`).
/// Docker manifest lists go through the registry API instead: skopeo will not keep a Docker
/// list read from an OCI layout byte for byte.
pub fn push(built: &BuiltIndex, tag: &str, dest: &str) {
    if built.docker {
        return push_api(built, dest);
    }
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--quiet",
        ])
        .arg(format!("oci:{}:{tag}", built.layout.display()))
        .arg(format!("docker://{dest}"))
        .output()
        .expect("skopeo runs");
    assert!(
        out.status.success(),
        "skopeo copy to {dest} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds `spec`, pushes it as `<registry>/<unique repo>:v1`, returns (repo, built).
pub fn push_new(name: &str, spec: IndexSpec) -> (String, BuiltIndex) {
    let repo = format!("{}/{}", super::Env::get().registry, unique(name));
    let built = build_index(&spec, "v1");
    push(&built, "v1", &format!("{repo}:v1"));
    (repo, built)
}

/// A `docker load` archive of one image (config + one layer), tagged `repo_tags`.
/// Returns the archive bytes and the image ID (config digest).
pub fn docker_archive(spec: &ImageSpec, salt: &str, repo_tags: &[&str]) -> (Vec<u8>, BuiltImage) {
    let dir = tempfile::tempdir().unwrap();
    let img = build_image(dir.path(), spec, salt, true);
    let manifest = json!([{
        "Config": format!("{}.json", img.config_digest.hex()),
        "RepoTags": repo_tags,
        "Layers": [format!("{}/layer.tar", img.diff_id.hex())],
    }]);
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let cfg_name = format!("{}.json", img.config_digest.hex());
    let layer_name = format!("{}/layer.tar", img.diff_id.hex());
    let tar = tar_with(&[
        ("manifest.json", &manifest_bytes, 0o644),
        (&cfg_name, &img.config, 0o644),
        (&layer_name, &img.layer_tar, 0o644),
    ]);
    (tar, img)
}

/// Pushes blobs and manifests with their exact bytes and media types through the registry API.
fn push_api(built: &BuiltIndex, dest: &str) {
    use oci_client::client::{ClientConfig, ClientProtocol};
    use oci_client::secrets::RegistryAuth;
    runref::registry::install_tls_provider();
    let client = oci_client::Client::try_from(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    })
    .unwrap();
    let r: oci_client::Reference = dest.parse().unwrap();
    super::rt().block_on(async {
        client
            .store_auth_if_needed(r.resolve_registry(), &RegistryAuth::Anonymous)
            .await;
        for img in &built.images {
            for blob in [&img.layer_gz, &img.config] {
                let d = Digest::of(blob).to_string();
                client.push_blob(&r, blob.clone(), &d).await.unwrap();
            }
            let mr = r.clone_with_digest(img.manifest_digest.to_string());
            let mt = http::HeaderValue::from_static(DOCKER_MANIFEST);
            client
                .push_manifest_raw(&mr, img.manifest.clone(), mt)
                .await
                .unwrap();
        }
        let mt = http::HeaderValue::from_static(DOCKER_LIST);
        let d = client
            .push_manifest_raw(&r, built.index.clone(), mt)
            .await
            .unwrap();
        assert!(
            d.contains(built.index_digest.hex()),
            "registry kept the list's bytes: {d}"
        );
    });
}
