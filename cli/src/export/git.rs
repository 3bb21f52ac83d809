//! The git command line, driven for the export: finding or creating the repository, reading
//! what it holds (trailers and file names), `git fast-import` for the commits, and the
//! work tree brought up to date afterwards.

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::thread::JoinHandle;

/// The branch the export commits to.
pub const BRANCH: &str = "refs/heads/main";

/// Variables that would point git at another repository than DIR.
const REPOSITORY_VARIABLES: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
];

/// `git` in `dir` (or anywhere, without), with the caller's repository variables removed.
fn git(dir: Option<&Path>) -> Command {
    let mut cmd = Command::new("git");
    if let Some(dir) = dir {
        cmd.arg("-C").arg(dir);
    }
    for v in REPOSITORY_VARIABLES {
        cmd.env_remove(v);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `cmd` and returns its stdout, or an error carrying git's stderr.
fn run(cmd: &mut Command) -> Result<Vec<u8>> {
    let out: Output = cmd.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow!(
            "git is not installed: install the `git` package (Debian: `apt-get install git`)"
        ),
        _ => anyhow!(e).context("cannot run git"),
    })?;
    if !out.status.success() {
        bail!(
            "git failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// Checks that git is installed and recent enough (2.28: `git init -b`).
pub fn check() -> Result<()> {
    let out = run(git(None).arg("--version"))?;
    let text = String::from_utf8_lossy(&out);
    let version: Vec<u32> = text
        .trim()
        .trim_start_matches("git version ")
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .filter_map(|n| n.parse().ok())
        .collect();
    if version.len() == 2 && (version[0], version[1]) < (2, 28) {
        bail!(
            "{} is too old: the export needs git 2.28 or later",
            text.trim()
        );
    }
    Ok(())
}

/// What a repository holds already.
#[derive(Debug, Default)]
pub struct History {
    /// The tip of `main`, when there is one.
    pub head: Option<String>,
    /// Every trailer of every commit of `main`, newest commit first: (key, value).
    pub trailers: Vec<Vec<(String, String)>>,
}

/// An export repository: a normal repository whose work tree is DIR.
pub struct Repo {
    dir: PathBuf,
}

impl Repo {
    /// Opens DIR when it is a repository's top, or creates one on `main` when DIR is absent
    /// or empty. Anything else is refused, so that an export never commits into a
    /// directory it does not own.
    pub fn open_or_init(dir: &Path) -> Result<Repo> {
        if dir.join(".git").exists() {
            let repo = Repo {
                dir: dir.to_path_buf(),
            };
            let top = run(repo.git().args(["rev-parse", "--show-toplevel"]))?;
            let top = PathBuf::from(String::from_utf8_lossy(&top).trim());
            let canonical = dir.canonicalize()?;
            if top.canonicalize().ok().as_deref() != Some(canonical.as_path()) {
                bail!("{} is not the top of a git work tree", dir.display());
            }
            return Ok(repo);
        }
        let empty = match std::fs::read_dir(dir) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                true
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
        };
        if !empty {
            bail!(
                "{} is neither empty nor a git repository: give a new directory, or one an \
                 export made",
                dir.display()
            );
        }
        run(git(Some(dir)).args(["init", "-q", "-b", "main"]))?;
        Ok(Repo {
            dir: dir.to_path_buf(),
        })
    }

    fn git(&self) -> Command {
        git(Some(&self.dir))
    }

    /// The tip of `main` and the trailers of its commits.
    pub fn history(&self) -> Result<History> {
        let head = run(self.git().args([
            "rev-parse",
            "--verify",
            "-q",
            &format!("{BRANCH}^{{commit}}"),
        ]))
        .ok()
        .map(|o| String::from_utf8_lossy(&o).trim().to_string());
        let Some(head) = head else {
            return Ok(History::default());
        };
        let log = run(self
            .git()
            .args(["log", "--format=%x1e%(trailers:only,unfold)", BRANCH]))?;
        let trailers = String::from_utf8_lossy(&log)
            .split('\x1e')
            .skip(1)
            .map(|commit| {
                commit
                    .lines()
                    .filter_map(|l| l.split_once(": "))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect()
            })
            .collect();
        Ok(History {
            head: Some(head),
            trailers,
        })
    }

    /// The files of `main`, grouped by file name (the last component of their path).
    pub fn files(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let mut files: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let out = run(self
            .git()
            .args(["ls-tree", "-r", "-z", "--name-only", BRANCH]))?;
        for path in out.split(|&b| b == 0).filter(|p| !p.is_empty()) {
            let path = String::from_utf8_lossy(path).into_owned();
            let name = super::layout::file_name(&path).to_string();
            files.entry(name).or_default().push(path);
        }
        Ok(files)
    }

    /// Starts `git fast-import` on this repository; `parent` is the tip of `main`.
    pub fn fast_import(&self, parent: Option<&str>) -> Result<FastImport> {
        let mut child = self
            .git()
            .args(["fast-import", "--quiet", "--done"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start git fast-import")?;
        let stdin = child.stdin.take().context("fast-import's stdin")?;
        let mut stderr = child.stderr.take().context("fast-import's stderr")?;
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Ok(FastImport {
            child,
            stdin: Some(BufWriter::with_capacity(1 << 20, stdin)),
            errors: Some(errors),
            parent: parent.map(str::to_string),
        })
    }

    /// Points HEAD at `main` and makes the index and the work tree match it (local edits
    /// are overwritten); returns the tip.
    pub fn check_out(&self) -> Result<String> {
        run(self.git().args(["symbolic-ref", "HEAD", BRANCH]))?;
        run(self.git().args(["reset", "-q", "--hard", BRANCH]))?;
        let head = run(self.git().args(["rev-parse", BRANCH]))?;
        Ok(String::from_utf8_lossy(&head).trim().to_string())
    }
}

/// A `git fast-import` process being fed commits. Dropped without [`finish`], it is
/// killed and `main` stays where it was.
///
/// [`finish`]: FastImport::finish
pub struct FastImport {
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    errors: Option<JoinHandle<String>>,
    /// The commit the next one follows, for the first commit of this process only.
    parent: Option<String>,
}

impl FastImport {
    /// Writes with `f`; a failed write means fast-import stopped, so its own words are
    /// the error (and never a plain broken pipe, which `main` would take for `| head`).
    fn send(
        &mut self,
        f: impl FnOnce(&mut BufWriter<ChildStdin>) -> std::io::Result<()>,
    ) -> Result<()> {
        let out = self
            .stdin
            .as_mut()
            .expect("fast-import is open until finish");
        let Err(e) = f(out) else { return Ok(()) };
        self.stdin = None;
        let _ = self.child.wait();
        let errors = self
            .errors
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        bail!("git fast-import stopped ({e}): {}", errors.trim())
    }

    /// Starts a commit on `main` by `ident` (`Name <email>`) at `when`.
    pub fn commit(&mut self, ident: &str, when: DateTime<Utc>, message: &str) -> Result<()> {
        let stamp = format!("{ident} {} +0000", when.timestamp());
        let parent = self.parent.take();
        self.send(|out| {
            writeln!(out, "commit {BRANCH}")?;
            writeln!(out, "author {stamp}")?;
            writeln!(out, "committer {stamp}")?;
            write!(out, "data {}\n{message}\n", message.len())?;
            if let Some(parent) = parent {
                writeln!(out, "from {parent}")?;
            }
            Ok(())
        })
    }

    /// Writes `bytes` to `path` in the current commit. Paths come from
    /// [`layout`](super::layout): no spaces, quotes or line ends to quote.
    pub fn write(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.send(|out| {
            write!(out, "M 100644 inline {path}\ndata {}\n", bytes.len())?;
            out.write_all(bytes)?;
            out.write_all(b"\n")
        })
    }

    /// Removes `path` in the current commit.
    pub fn delete(&mut self, path: &str) -> Result<()> {
        self.send(|out| writeln!(out, "D {path}"))
    }

    /// Ends the stream and waits: `main` moves only if every commit was taken.
    pub fn finish(mut self) -> Result<()> {
        let mut out = self.stdin.take().expect("fast-import is open until finish");
        let sent = writeln!(out, "done").and_then(|()| out.flush());
        drop(out);
        let status = self.child.wait().context("git fast-import")?;
        let errors = self
            .errors
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        if !status.success() {
            bail!("git fast-import failed ({status}): {}", errors.trim());
        }
        if let Err(e) = sent {
            bail!("git fast-import did not take the end of the stream: {e}");
        }
        Ok(())
    }
}

impl Drop for FastImport {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
