//! `runref reconcile`: make analyzed.toml's `[run-image] reference` right for the daemon or the
//! registry. Gather facts (concurrently where independent), [`decide::decide`], act, report.

pub mod decide;
pub mod target;
pub mod why;

use crate::analyzed::{AnalyzedError, AnalyzedFile};
use crate::daemon::{Daemon, DaemonError};
use crate::model::digest::ImageId;
use crate::model::local::LocalImage;
use crate::model::platform::Platform;
use crate::model::policy::{ParsedPolicy, PullPolicy};
use crate::model::reference::{ImageRef, Reference};
use crate::registry::Registry;
use decide::{decide, Facts, Input, Lookup, Mode, Need, Reason, RemoteFailure, Step};
use why::{Failure, Warning};

/// Where the target platform came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlatformSource {
    Flag,
    Target,
    /// The reference is that platform's manifest (the daemon or the registry proves it).
    Reference,
    Daemon,
    Host,
}

/// What `reconcile` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub policy: ParsedPolicy,
    pub platform: Option<Platform>,
    /// Write nothing (`--dry-run` and `--check`).
    pub no_write: bool,
    /// `--check`: report a needed change as exit 3.
    pub check: bool,
}

/// The result, rendered as text or JSON by the CLI (JSON: [`crate::report::reconcile`]).
#[derive(Debug, Clone)]
pub struct Report {
    pub file: String,
    pub mode: Mode,
    pub pull_policy: PullPolicy,
    pub platform: Option<Platform>,
    pub platform_source: Option<PlatformSource>,
    /// The decision differs from the file.
    pub changed: bool,
    /// The file was rewritten.
    pub written: bool,
    pub before: String,
    pub after: Option<String>,
    pub decision: Option<Reason>,
    pub failure: Option<Failure>,
    pub local_image_id: Option<String>,
    pub store: Option<crate::model::local::StoreKind>,
    pub pulled: Option<String>,
    /// The single-platform image record made for the target (containerd store): its ID.
    pub materialized: Option<String>,
    /// `--dry-run`/`--check`: the pull that deciding needs, not made.
    pub would_pull: Option<String>,
    /// `--dry-run`/`--check`: a single-platform record would be made (`after` is its ID).
    pub would_materialize: bool,
    pub registry_requests: usize,
    /// Of those, HTTPS attempts an insecure host refused before plain HTTP answered (at most
    /// one per host; a registry's access log never sees them).
    pub registry_http_fallbacks: usize,
    /// Manifests read from the on-disk cache instead of the registry (`--cache-dir`).
    pub registry_cache_hits: usize,
    /// Registry => the endpoint that answered (a mirror for Docker Hub names, when one did).
    pub registry_endpoints: crate::registry::Endpoints,
    /// The Docker context the daemon was reached through, when one was (set by the CLI).
    pub docker_context: Option<String>,
    pub warnings: Vec<Warning>,
    pub diff: Option<String>,
    /// `--check`: a needed change is exit 3.
    pub check: bool,
}

impl Report {
    pub fn exit_code(&self) -> u8 {
        if self.failure.is_some() {
            crate::exit::FAILED
        } else if self.check && (self.changed || self.would_pull.is_some()) {
            crate::exit::CHANGE_NEEDED
        } else {
            crate::exit::OK
        }
    }
}

/// Errors that stop reconcile before a decision.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Analyzed(#[from] AnalyzedError),
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    /// A caller asked for daemon mode without giving a daemon (a library misuse).
    #[error("daemon mode needs a daemon to ask")]
    NoDaemon,
}

impl ReconcileError {
    /// Invalid input (exit 2) rather than an environment failure (exit 1).
    pub fn is_input(&self) -> bool {
        match self {
            ReconcileError::Analyzed(AnalyzedError::Read { .. } | AnalyzedError::Write { .. }) => {
                false
            }
            ReconcileError::Analyzed(_) | ReconcileError::Input { .. } => true,
            ReconcileError::Daemon(_) | ReconcileError::NoDaemon => false,
        }
    }
}

fn input_err(file: &AnalyzedFile, message: String) -> ReconcileError {
    ReconcileError::Input {
        path: file.path().display().to_string(),
        message,
    }
}

/// Builds the decision input from the file and options; the platform may still be unknown
/// (daemon mode learns it from the daemon).
fn read_input(
    file: &AnalyzedFile,
    opts: &Options,
) -> Result<(Input, Option<PlatformSource>), ReconcileError> {
    let view = file.view()?;
    let Some(run) = view.run_image else {
        return Err(AnalyzedError::NoRunImage {
            path: file.path().into(),
        }
        .into());
    };
    let reference = match (&run.reference, &run.image) {
        (Some(r), _) if !r.is_empty() => ImageRef::parse(r)
            .map_err(|e| input_err(file, format!("[run-image] reference: {e}")))?,
        (_, Some(i)) if !i.is_empty() => ImageRef::Name(
            i.parse()
                .map_err(|e| input_err(file, format!("[run-image] image: {e}")))?,
        ),
        _ => {
            return Err(input_err(
                file,
                "[run-image] has neither reference nor image: nothing to reconcile".into(),
            ))
        }
    };
    let image = match run.image.as_deref() {
        Some(i) if !i.is_empty() => Some(
            i.parse::<Reference>()
                .map_err(|e| input_err(file, format!("[run-image] image: {e}")))?,
        ),
        _ => None,
    };
    let target = run.target.as_ref().and_then(|t| t.platform());
    let (platform, source) = match (&opts.platform, target) {
        (Some(p), _) => (Some(p.clone()), Some(PlatformSource::Flag)),
        (None, Some(t)) => (Some(t), Some(PlatformSource::Target)),
        (None, None) => (None, None),
    };
    Ok((
        Input {
            mode: opts.mode,
            policy: opts.policy.policy,
            platform: platform.unwrap_or_else(Platform::host),
            reference,
            image,
            extend: run.extend,
            platform_given: source.is_some(),
            reference_platform: None,
        },
        source,
    ))
}

async fn inspect_full<D: Daemon>(d: &D, image: &ImageRef) -> Result<Lookup, DaemonError> {
    Ok(match crate::daemon::lookup::find_full(d, image).await? {
        None => Lookup::Absent,
        Some(img) => Lookup::Found(Box::new(img)),
    })
}

async fn lookups<D: Daemon>(d: &D, inp: &Input) -> Result<(Lookup, Lookup), DaemonError> {
    let by_ref = inspect_full(d, &inp.reference);
    let image = inp
        .image
        .as_ref()
        .filter(|i| i.to_string() != inp.reference.to_string())
        .map(|i| ImageRef::Name(i.clone()));
    let by_image = async {
        match &image {
            Some(i) => inspect_full(d, i).await,
            None => Ok(Lookup::NotAsked),
        }
    };
    let (a, b) = tokio::join!(by_ref, by_image);
    Ok((a?, b?))
}

fn reference_digest(inp: &Input) -> Option<&crate::model::digest::Digest> {
    match &inp.reference {
        ImageRef::Name(r) => r.digest(),
        ImageRef::Id(_) => None,
    }
}

/// Makes the single-platform record and inspects it, as the decision will see it.
async fn materialize<D: Daemon>(
    d: &D,
    image: &ImageId,
    platform: &Platform,
    manifest: &crate::model::digest::Digest,
) -> Result<LocalImage, String> {
    let id = d
        .materialize(image, platform, manifest)
        .await
        .map_err(|e| e.to_string())?;
    d.inspect(&id.long())
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("the loaded image {id} is not in the daemon afterwards"))
}

/// What [`materialize`] would give, without doing it: the same image, one platform, its ID the
/// manifest digest.
fn predicted_record(
    facts: &Facts,
    image: &ImageId,
    platform: &Platform,
    manifest: &crate::model::digest::Digest,
) -> LocalImage {
    let base = facts
        .by_reference
        .found()
        .or(facts.by_image.found())
        .or(facts.repo_images.iter().flatten().find(|i| &i.id == image));
    LocalImage {
        id: ImageId::from_digest(manifest.clone()),
        repo_tags: vec![],
        repo_digests: vec![],
        platform: Some(platform.clone()),
        top_layer: base.and_then(|b| b.top_layer.clone()),
        descriptor: Some(manifest.clone()),
        manifests: vec![],
    }
}

/// Fills in the daemon facts that its answers' headers and the images seen so far settle,
/// without `/info` (see [`crate::model::local::Answered::settle`]).
fn settle<D: Daemon>(daemon: Option<&D>, facts: &mut Facts) {
    let Some(d) = daemon.filter(|_| facts.daemon.is_none()) else {
        return;
    };
    // `/info` answered already for another question (the registry's mirrors): no request.
    if let Some(info) = d.known_info() {
        facts.daemon = Some(info);
        return;
    }
    let Some(answered) = d.answered() else {
        return;
    };
    let seen = (facts.by_reference.found().into_iter())
        .chain(facts.by_image.found())
        .chain(facts.repo_images.iter().flatten());
    facts.daemon = seen
        .map(|i| answered.settle(Some(i)))
        .find(Option::is_some)
        .flatten()
        .or_else(|| answered.settle(None));
}

/// With no target given: the platform the reference proves ([`target::from_reference`]), asking
/// the registry at most once (a manifest and its config) where the policy allows. In registry
/// mode that answer is the one the decision would ask for next, so it is kept as its fact.
async fn reference_target<D: Daemon, R: Registry>(
    inp: &Input,
    facts: &mut Facts,
    daemon: Option<&D>,
    registry: &R,
    warnings: &mut Vec<Warning>,
    memo: &mut Memo,
) -> Result<Option<Platform>, ReconcileError> {
    let mut asked = None;
    let chosen = loop {
        match target::from_reference(inp, facts, asked.as_ref()) {
            target::TargetStep::Proven(p) => break Some(p),
            target::TargetStep::Default => break None,
            target::TargetStep::RepoImages(r) => match daemon {
                Some(d) => facts.repo_images = Some(repo_images(d, &r).await?),
                None => break None,
            },
            target::TargetStep::Ask(_) if asked.is_some() => break None,
            target::TargetStep::Ask(r) => {
                let answer = registry_view(registry, &r, inp).await;
                if answer.is_err() {
                    memo.unanswered(&r);
                }
                asked = Some(answer)
            }
        }
    };
    // Why the registry could not say: the read failed, or (the manifest read, from the cache
    // or the wire) its config could not be (a newcomer saw a cached manifest hide an untrusted
    // certificate).
    let unsaid = match (&chosen, &asked) {
        (None, Some(Err(e))) => Some(e.detail.clone()),
        (None, Some(Ok(v))) => v.entries.iter().find_map(|e| e.error.clone()),
        _ => None,
    };
    if let Some(why) = unsaid {
        warnings.push(Warning::TargetDefaulted {
            reference: inp.reference.clone(),
            platform: inp.platform.clone(),
            detail: why,
        });
    }
    // Registry mode resolves the reference itself when it is in the run image's repository:
    // the same request at the same depth, so its answer is kept.
    let same = match (&inp.reference, inp.name()) {
        (ImageRef::Name(r), Some(n)) => r.same_repository(n),
        _ => false,
    };
    if let Some(Ok(v)) = &asked {
        memo.keep(v);
    }
    if inp.mode == Mode::Registry && same {
        facts.remote = asked;
    }
    Ok(chosen)
}

/// Registry answers of this run that a later question may reuse: a single manifest read by
/// digest (with its config) answers any later question about that digest at `Proof` or
/// `Platform` depth, so the reference is never read twice in one run (a newcomer counted 3
/// requests where 2 decide: the same manifest fetched again).
#[derive(Default)]
struct Memo(Vec<crate::model::view::RemoteView>, Vec<Reference>);

impl Memo {
    /// `r` was asked and the registry did not answer: not asked again in this run (its
    /// failure is a warning already).
    fn unanswered(&mut self, r: &Reference) {
        self.1.push(r.clone());
    }

    fn was_unanswered(&self, r: &Reference) -> bool {
        self.1
            .iter()
            .any(|x| x.digest() == r.digest() && x.same_repository(r))
    }

    fn keep(&mut self, v: &crate::model::view::RemoteView) {
        if !v.is_index && v.resolved_from.is_none() {
            self.0.push(v.clone());
        }
    }

    fn answer(
        &self,
        r: &Reference,
        depth: &crate::model::view::Depth,
    ) -> Option<crate::model::view::RemoteView> {
        use crate::model::view::Depth;
        if !matches!(depth, Depth::Proof(_) | Depth::Platform(_)) {
            return None;
        }
        let d = r.digest()?;
        // A Platform question needs the config's platform, which a Proof read did not fetch.
        let deep = |v: &&crate::model::view::RemoteView| {
            matches!(depth, Depth::Proof(_))
                || v.entries
                    .first()
                    .is_some_and(|e| e.config_platform.is_some())
        };
        self.0
            .iter()
            .filter(deep)
            .find(|v| &v.digest == d && v.reference.same_repository(r))
            .map(|v| crate::model::view::RemoteView {
                reference: r.with_digest(d),
                ..v.clone()
            })
    }
}

/// The registry's view of `r` as deep as its platform (a single manifest's config).
async fn registry_view<R: Registry>(
    registry: &R,
    r: &Reference,
    inp: &Input,
) -> Result<crate::model::view::RemoteView, RemoteFailure> {
    let depth = crate::model::view::Depth::Platform(inp.platform.clone());
    crate::registry::resolve::resolve(registry, r, &depth)
        .await
        .map_err(|e| RemoteFailure {
            not_found: e.is_not_found(),
            detail: e.to_string(),
        })
}

/// Every local image of `repo`, with the containerd store's manifests.
async fn repo_images<D: Daemon>(d: &D, repo: &Reference) -> Result<Vec<LocalImage>, DaemonError> {
    let mut images = Vec::new();
    for img in d.images_of(repo).await? {
        images.push(crate::daemon::lookup::with_manifests(d, img).await?);
    }
    Ok(images)
}

/// Reconciles `file` in place (unless `opts.no_write`) and reports what happened: the
/// target settled, the decision driven to its end, the file written and the report made.
pub async fn reconcile<D: Daemon, R: Registry>(
    file: &mut AnalyzedFile,
    opts: &Options,
    daemon: Option<&D>,
    registry: &R,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Report, ReconcileError> {
    let (inp, source) = read_input(file, opts)?;
    let mut run = Run {
        before: inp.reference.to_string(),
        warnings: opts
            .policy
            .interval
            .iter()
            .map(|name| Warning::IntervalPolicy { name: name.clone() })
            .collect(),
        inp,
        source,
        opts,
        daemon,
        registry,
        facts: Facts::default(),
        memo: Memo::default(),
        pulled: None,
        materialized: None,
        would_pull: None,
        would_materialize: false,
    };
    run.target().await?;
    let step = run.drive(progress).await?;
    run.finish(file, step)
}

/// One reconcile: what it was asked, what it learnt, what it did.
struct Run<'a, D, R> {
    inp: Input,
    source: Option<PlatformSource>,
    before: String,
    opts: &'a Options,
    daemon: Option<&'a D>,
    registry: &'a R,
    facts: Facts,
    memo: Memo,
    warnings: Vec<Warning>,
    pulled: Option<String>,
    materialized: Option<String>,
    would_pull: Option<String>,
    would_materialize: bool,
}

impl<'a, D: Daemon, R: Registry> Run<'a, D, R> {
    /// The daemon, in daemon mode.
    fn daemon(&self) -> Option<&'a D> {
        self.daemon.filter(|_| self.inp.mode == Mode::Daemon)
    }

    fn need_daemon(&self) -> Result<&'a D, ReconcileError> {
        self.daemon.ok_or(ReconcileError::NoDaemon)
    }

    /// The first lookups, and the target platform: given, else (daemon mode) the daemon's,
    /// else the one the reference proves.
    async fn target(&mut self) -> Result<(), ReconcileError> {
        let given = self.source.is_some();
        if self.opts.mode == Mode::Daemon {
            let d = self.need_daemon()?;
            if given {
                // The target is known: the lookups alone, and `/info` only if a rule needs
                // what their answers did not settle (the hook's common case asks nothing more).
                (self.facts.by_reference, self.facts.by_image) = lookups(d, &self.inp).await?;
            } else {
                // The default target is the daemon's own platform: `/info`, beside the lookups.
                let (info, looked) = tokio::join!(d.info(), lookups(d, &self.inp));
                let info = info?;
                (self.facts.by_reference, self.facts.by_image) = looked?;
                self.inp.platform = info.platform_or_host();
                self.facts.daemon = Some(info);
                self.source = Some(PlatformSource::Daemon);
            }
        } else if !given {
            self.source = Some(PlatformSource::Host);
        }
        if given {
            self.inp.reference_platform = target::proven_by_daemon(&self.inp, &self.facts);
        } else if let Some(p) = reference_target(
            &self.inp,
            &mut self.facts,
            self.daemon.filter(|_| self.inp.mode == Mode::Daemon),
            self.registry,
            &mut self.warnings,
            &mut self.memo,
        )
        .await?
        {
            self.inp.platform = p.clone();
            self.inp.reference_platform = Some(p);
            self.inp.platform_given = true;
            self.source = Some(PlatformSource::Reference);
        }
        settle(self.daemon(), &mut self.facts);
        Ok(())
    }

    /// Decides, gathers the fact the decision needs, decides again, until it ends (a fact is
    /// asked at most once, so a dozen rounds are far more than any case takes).
    async fn drive(
        &mut self,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Step, ReconcileError> {
        let mut reference_asked = false;
        let mut step = decide(&self.inp, &self.facts);
        for _ in 0..12 {
            let Step::Need(need) = &step else { break };
            match need {
                // Before pulling by the reference's digest for a given target: is that digest
                // another platform's manifest? Then the pull could never bring the target (a
                // pull takes seconds; the question, a manifest and its config).
                Need::Pull(r)
                    if !reference_asked
                        && !self.memo.was_unanswered(r)
                        && self.inp.reference_platform.is_none()
                        && r.digest().is_some()
                        && r.digest() == reference_digest(&self.inp) =>
                {
                    reference_asked = true;
                    match registry_view(self.registry, r, &self.inp).await {
                        Ok(v) => {
                            self.memo.keep(&v);
                            self.inp.reference_platform = v
                                .entries
                                .first()
                                .and_then(|e| e.config_platform.clone())
                                .filter(|_| !v.is_index);
                        }
                        // A digest in no registry is pulled from none either: the pull says so.
                        Err(e) if e.not_found => {}
                        Err(e) => self.warnings.push(Warning::PullUnchecked {
                            reference: r.clone(),
                            detail: e.detail,
                        }),
                    }
                }
                // --dry-run/--check change nothing anywhere: the pull is reported, not made.
                Need::Pull(r) if self.opts.no_write => {
                    self.would_pull = Some(r.to_string());
                    break;
                }
                need => {
                    let need = need.clone();
                    self.gather(&need, progress).await?;
                }
            }
            settle(self.daemon(), &mut self.facts);
            step = decide(&self.inp, &self.facts);
        }
        Ok(step)
    }

    /// Gathers the fact `need` asks for.
    async fn gather(
        &mut self,
        need: &Need,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), ReconcileError> {
        match need {
            Need::DaemonInfo => self.facts.daemon = Some(self.need_daemon()?.info().await?),
            Need::RepoImages(repo) => {
                self.facts.repo_images = Some(repo_images(self.need_daemon()?, repo).await?)
            }
            Need::Remote { reference, depth } => {
                if let Some(v) = self.memo.answer(reference, depth) {
                    self.facts.remote = Some(Ok(v));
                    return Ok(());
                }
                let view = crate::registry::resolve::resolve(self.registry, reference, depth).await;
                if let Ok(v) = &view {
                    self.memo.keep(v);
                }
                self.facts.remote = Some(view.map_err(|e| RemoteFailure {
                    not_found: e.is_not_found(),
                    detail: e.to_string(),
                }));
            }
            Need::Materialize {
                image,
                platform,
                manifest,
            } => {
                let d = self.need_daemon()?;
                self.facts.materialized = Some(if self.opts.no_write {
                    // A loaded one-platform archive's ID is its manifest digest (measured on
                    // Engine 28.5): the decision is known without loading anything.
                    self.would_materialize = true;
                    Ok(predicted_record(&self.facts, image, platform, manifest))
                } else {
                    materialize(d, image, platform, manifest).await
                });
                if let Some(Ok(img)) = &self.facts.materialized {
                    self.materialized = Some(img.id.to_string()).filter(|_| !self.opts.no_write);
                }
                if let Some(m) = &self.materialized {
                    // Untagged on purpose (a tag would move the user's name): say how it
                    // can be lost before the export, and how to keep it.
                    self.warnings
                        .push(Warning::UntaggedRecord { id: m.clone() });
                }
            }
            Need::Pull(r) => {
                let d = self.need_daemon()?;
                let res = d.pull(r, &self.inp.platform, progress).await;
                // `pulled` reports a pull that happened; a failed one is the failure.
                self.pulled = res.is_ok().then(|| r.to_string());
                self.facts.pulled = Some(res.map_err(|e| e.to_string()));
                (self.facts.by_reference, self.facts.by_image) = lookups(d, &self.inp).await?;
                self.facts.repo_images = None;
                self.facts.remote = None;
            }
        }
        Ok(())
    }

    /// Writes the decision into the file (unless told not to) and makes the report.
    fn finish(self, file: &mut AnalyzedFile, step: Step) -> Result<Report, ReconcileError> {
        let facts = &self.facts;
        let chosen = match &step {
            Step::Done(o) => o.local_image.as_ref(),
            _ => None,
        };
        let found = chosen.or(facts.by_reference.found().or(facts.by_image.found()));
        let registry = self.registry;
        let mut report = Report {
            file: file.path().display().to_string(),
            mode: self.inp.mode,
            pull_policy: self.inp.policy,
            platform: Some(self.inp.platform.clone()),
            platform_source: self.source,
            changed: false,
            written: false,
            before: self.before,
            after: None,
            decision: None,
            failure: None,
            local_image_id: None,
            store: facts.daemon.as_ref().map(|i| i.store(found)),
            pulled: self.pulled,
            materialized: self.materialized,
            would_pull: self.would_pull,
            would_materialize: self.would_materialize,
            registry_requests: registry.requests(),
            registry_http_fallbacks: registry.http_fallbacks(),
            registry_cache_hits: registry.cache_hits(),
            registry_endpoints: registry.endpoints(),
            docker_context: None,
            warnings: self.warnings,
            diff: None,
            check: self.opts.check,
        };
        match step {
            Step::Done(o) => {
                report.warnings.extend(o.warnings);
                report.decision = Some(o.reason);
                report.local_image_id = o.local_image.as_ref().map(|i| i.id.to_string());
                report.changed = file.set_run_image_reference(&o.reference)?;
                report.after = Some(o.reference);
                if report.changed {
                    report.diff = Some(file.diff());
                    if !self.opts.no_write {
                        report.written = file.write()?;
                    }
                }
            }
            Step::Fail(f) => report.failure = Some(*f),
            // --dry-run/--check stopped before a pull: the outcome depends on what it brings.
            Step::Need(Need::Pull(_)) if report.would_pull.is_some() => report.changed = true,
            Step::Need(n) => {
                report.failure = Some(Failure::Unsettled {
                    need: format!("{n:?}"),
                })
            }
        }
        Ok(report)
    }
}
