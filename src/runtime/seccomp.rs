//! Seccomp filters: Docker's default profile and Docker's JSON profile format, compiled to a
//! classic-BPF program by our own small compiler and installed with seccomp(2).
//!
//! Why our own compiler rather than libseccomp: one less C library to link and version-match,
//! and a filter built in microseconds per container start. The semantics follow what Docker
//! (moby's `profiles/seccomp` package) and runc with libseccomp produce for the same profile:
//!
//! - `includes`/`excludes` are resolved against the container's capabilities, the native
//!   architecture and the running kernel (`minKernel`), as moby's `setupSeccomp` does;
//! - names this architecture does not have are skipped, as runc does;
//! - within one rule all argument checks must hold, except that several checks on the same
//!   argument index are alternatives (runc's compatibility rule for old profiles);
//! - for one syscall the conditional rules are tried in profile order and the first
//!   unconditional rule is the fallback (libseccomp's "most specific first"), then the
//!   profile's default action.
//!
//! Only the native architecture is filtered: a syscall made through another ABI (i386 via
//! `int 0x80`, x32 numbers on x86_64) gets the default action. Docker also admits those ABIs
//! with their own tables; refusing them is the safer, simpler choice for our containers.
//!
//! The default profile is a compact transcription of moby's
//! <https://github.com/moby/profiles/blob/main/seccomp/default.json> (last changed in commit
//! 3c28324314729dbade8287e868eef6338c42807a), not an embedded copy of the JSON.

use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer};

use crate::error::{Error, Kind, Result};

// ---------------------------------------------------------------------------------------------
// The profile model (Docker's JSON format)
// ---------------------------------------------------------------------------------------------

/// A seccomp profile in Docker's JSON format (`--security-opt seccomp=PROFILE.json`).
///
/// Actions and ops stay strings here so that a bad one is reported with the syscall entry it
/// is in (serde would only give a line and column); `validate` and `compile` check them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default)]
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    /// Accepted for compatibility; only the native architecture is ever filtered.
    #[serde(default, deserialize_with = "null_as_default")]
    pub architectures: Vec<String>,
    /// Accepted for compatibility; only the native architecture is ever filtered.
    #[serde(default, deserialize_with = "null_as_default")]
    pub arch_map: Vec<ArchMap>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub syscalls: Vec<SyscallRule>,
}

/// One `archMap` element: an architecture and the sub-architectures it admits.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    #[serde(default)]
    pub architecture: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sub_architectures: Vec<String>,
}

/// One `syscalls` element: names, an action, optional argument checks and conditions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    #[serde(default, deserialize_with = "null_as_default")]
    pub names: Vec<String>,
    /// The pre-`names` form of old profiles; exclusive with `names`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub includes: Option<Filter>,
    #[serde(default)]
    pub excludes: Option<Filter>,
}

/// An argument check: `args[index] <op> value` (`MASKED_EQ`: `args[index] & value == valueTwo`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// The condition of an `includes` (all must hold) or `excludes` (any excludes) block.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default, deserialize_with = "null_as_default")]
    pub caps: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub arches: Vec<String>,
    /// `"<kernel>.<major>"`, compared with the running kernel.
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// Go writes empty slices as `null`; treat that as empty rather than an error.
fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// What the filter does with a syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    /// Fail with this errno without running the syscall.
    Errno(u16),
    KillThread,
    KillProcess,
    /// SIGSYS to the thread.
    Trap,
    /// Allow and log.
    Log,
    /// Notify a ptrace tracer with this value (ENOSYS when there is none).
    Trace(u16),
}

const ACTION_NAMES: &str = "SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD, \
                            SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_LOG, SCMP_ACT_TRACE";
const OP_NAMES: &str = "SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, \
                        SCMP_CMP_GT, SCMP_CMP_MASKED_EQ";

impl Action {
    /// Parses a Docker action name; `errno_ret` is the errno (ERRNO) or tracer value (TRACE),
    /// EPERM when absent as in runc. Errors are message fragments for the caller to place.
    fn parse(name: &str, errno_ret: Option<u32>) -> std::result::Result<Action, (Kind, String)> {
        let data = || -> std::result::Result<u16, (Kind, String)> {
            let value = errno_ret.unwrap_or(libc::EPERM as u32);
            u16::try_from(value).map_err(|_| {
                (
                    Kind::InvalidArgument,
                    format!("errnoRet {value} out of range (0-65535)"),
                )
            })
        };
        Ok(match name {
            "SCMP_ACT_ALLOW" => Action::Allow,
            "SCMP_ACT_ERRNO" => Action::Errno(data()?),
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
            "SCMP_ACT_TRAP" => Action::Trap,
            "SCMP_ACT_LOG" => Action::Log,
            "SCMP_ACT_TRACE" => Action::Trace(data()?),
            "SCMP_ACT_NOTIFY" => {
                return Err((
                    Kind::Unsupported,
                    "action SCMP_ACT_NOTIFY needs a seccomp listener, which is not supported"
                        .to_string(),
                ))
            }
            "" => return Err((Kind::InvalidArgument, "missing action".to_string())),
            other => {
                return Err((
                    Kind::InvalidArgument,
                    format!("unknown action {other:?}; known: {ACTION_NAMES}"),
                ))
            }
        })
    }

    /// The filter's return value (`SECCOMP_RET_*` with its data).
    pub fn ret(self) -> u32 {
        match self {
            Action::KillProcess => 0x8000_0000,
            Action::KillThread => 0x0000_0000,
            Action::Trap => 0x0003_0000,
            Action::Errno(e) => 0x0005_0000 | u32::from(e),
            Action::Trace(d) => 0x7ff0_0000 | u32::from(d),
            Action::Log => 0x7ffc_0000,
            Action::Allow => 0x7fff_0000,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Allow => f.write_str("allow"),
            Action::Errno(e) => write!(f, "errno {}", errno_name(*e)),
            Action::KillThread => f.write_str("kill thread"),
            Action::KillProcess => f.write_str("kill process"),
            Action::Trap => f.write_str("trap"),
            Action::Log => f.write_str("log"),
            Action::Trace(d) => write!(f, "trace {d}"),
        }
    }
}

/// Names for the errnos profiles actually use; others print as numbers.
fn errno_name(e: u16) -> String {
    let name = match i32::from(e) {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => return e.to_string(),
    };
    name.to_string()
}

/// An argument comparison, always on the full 64-bit value as libseccomp does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    MaskedEq,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cond {
    index: u8,
    op: Op,
    value: u64,
    value_two: u64,
}

impl Cond {
    fn parse(arg: &Arg) -> std::result::Result<Cond, String> {
        let op = match arg.op.as_str() {
            "SCMP_CMP_NE" => Op::Ne,
            "SCMP_CMP_LT" => Op::Lt,
            "SCMP_CMP_LE" => Op::Le,
            "SCMP_CMP_EQ" => Op::Eq,
            "SCMP_CMP_GE" => Op::Ge,
            "SCMP_CMP_GT" => Op::Gt,
            "SCMP_CMP_MASKED_EQ" => Op::MaskedEq,
            other => return Err(format!("unknown op {other:?}; known: {OP_NAMES}")),
        };
        let index = match u8::try_from(arg.index) {
            Ok(i) if i <= 5 => i,
            _ => return Err(format!("argument index {} out of range (0-5)", arg.index)),
        };
        Ok(Cond {
            index,
            op,
            value: arg.value,
            value_two: arg.value_two,
        })
    }

    /// What the condition says about a concrete argument value (the reference the BPF code
    /// must agree with; used by the tests).
    #[cfg(test)]
    fn holds(&self, args: &[u64; 6]) -> bool {
        let a = args[usize::from(self.index)];
        match self.op {
            Op::Ne => a != self.value,
            Op::Lt => a < self.value,
            Op::Le => a <= self.value,
            Op::Eq => a == self.value,
            Op::Ge => a >= self.value,
            Op::Gt => a > self.value,
            Op::MaskedEq => a & self.value == self.value_two,
        }
    }
}

/// A syscall entry after validation: its action and its argument checks as alternatives
/// (OR) of conjunctions (AND). An unconditional entry has one empty conjunction.
struct Entry {
    action: Action,
    alternatives: Vec<Vec<Cond>>,
}

impl Entry {
    fn unconditional(&self) -> bool {
        self.alternatives.iter().any(|alt| alt.is_empty())
    }
}

/// The running kernel's "<kernel>.<major>", read once.
fn kernel_version() -> Result<(u32, u32)> {
    static VERSION: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    let version = VERSION.get_or_init(|| {
        // SAFETY: utsname is plain old data, so all-zero is a valid value to fill in.
        let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: uname writes into the struct we own and pass by valid pointer.
        if unsafe { libc::uname(&mut uts) } != 0 {
            return None;
        }
        // c_char is i8 on x86_64 and u8 on aarch64; to_ne_bytes reads either as a byte.
        let release: Vec<u8> = uts
            .release
            .iter()
            .take_while(|&&c| c != 0)
            .map(|c| c.to_ne_bytes()[0])
            .collect();
        parse_kernel_version(&String::from_utf8_lossy(&release), false)
    });
    version.ok_or_else(|| {
        Error::new(
            Kind::Runtime,
            "seccomp profile: cannot read the kernel version for minKernel",
        )
    })
}

/// Parses "<kernel>.<major>" (`strict`, a profile's minKernel) or a kernel release such as
/// "6.1.0-18-amd64" (minor revision and suffix ignored, as moby does).
fn parse_kernel_version(text: &str, strict: bool) -> Option<(u32, u32)> {
    let mut parts = text.splitn(3, '.');
    let kernel = parts.next()?.parse().ok()?;
    let major_text = parts.next()?;
    let major = if strict {
        if parts.next().is_some() {
            return None;
        }
        major_text.parse().ok()?
    } else {
        let digits = major_text.split(|c: char| !c.is_ascii_digit()).next()?;
        digits.parse().ok()?
    };
    if strict && kernel == 0 && major == 0 {
        return None;
    }
    Some((kernel, major))
}

impl Profile {
    /// Parses and validates a profile in Docker's JSON format.
    pub fn from_json(text: &str) -> Result<Profile> {
        let profile: Profile = serde_json::from_str(text)
            .map_err(|e| Error::invalid(format!("seccomp profile: {e}")))?;
        profile.validate()?;
        Ok(profile)
    }

    /// Checks every action, op, index and version in the profile, whatever the capabilities.
    pub fn validate(&self) -> Result<()> {
        self.default_action()?;
        self.check_arches()?;
        for (i, rule) in self.syscalls.iter().enumerate() {
            self.entry(i, rule)?;
        }
        Ok(())
    }

    fn default_action(&self) -> Result<Action> {
        if self.default_action.is_empty() {
            return Err(Error::invalid("seccomp profile: missing defaultAction"));
        }
        Action::parse(&self.default_action, self.default_errno_ret).map_err(|(kind, msg)| {
            Error::new(kind, format!("seccomp profile: defaultAction: {msg}"))
        })
    }

    fn check_arches(&self) -> Result<()> {
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err(Error::invalid(
                "seccomp profile: both architectures and archMap are set; use one",
            ));
        }
        Ok(())
    }

    /// Validates syscall entry `i` into its action and argument checks.
    fn entry(&self, i: usize, rule: &SyscallRule) -> Result<Entry> {
        let err = |kind: Kind, msg: &str| {
            Error::new(
                kind,
                format!(
                    "seccomp profile: syscall entry {i} ({}): {msg}",
                    rule_label(rule)
                ),
            )
        };
        if rule.name.as_deref().is_some_and(|n| !n.is_empty()) && !rule.names.is_empty() {
            return Err(err(
                Kind::InvalidArgument,
                "both name and names are set; use names",
            ));
        }
        let action =
            Action::parse(&rule.action, rule.errno_ret).map_err(|(kind, msg)| err(kind, &msg))?;
        let mut conds = Vec::with_capacity(rule.args.len());
        for arg in &rule.args {
            conds.push(Cond::parse(arg).map_err(|msg| err(Kind::InvalidArgument, &msg))?);
        }
        for filter in [&rule.includes, &rule.excludes].into_iter().flatten() {
            if let Some(v) = filter.min_kernel.as_deref().filter(|v| !v.is_empty()) {
                if parse_kernel_version(v, true).is_none() {
                    return Err(err(
                        Kind::InvalidArgument,
                        &format!("invalid minKernel {v:?}; expected \"<kernel>.<major>\""),
                    ));
                }
            }
        }
        // libseccomp cannot AND two checks of the same argument, so runc turns such a rule into
        // one rule per check (OR); old Docker profiles rely on that.
        let repeated = (0..6u8).any(|idx| conds.iter().filter(|c| c.index == idx).count() > 1);
        let alternatives = if repeated {
            conds.into_iter().map(|c| vec![c]).collect()
        } else {
            vec![conds]
        };
        Ok(Entry {
            action,
            alternatives,
        })
    }

    /// Compiles the profile for a container whose capabilities are `caps` (names such as
    /// "CAP_SYS_ADMIN") into a BPF program for the native architecture.
    pub fn compile(&self, caps: &[&str]) -> Result<Program> {
        if native::SYSCALLS.is_empty() {
            return Err(Error::new(
                Kind::Unsupported,
                "seccomp: no syscall table for this architecture",
            ));
        }
        let default = self.default_action()?;
        self.check_arches()?;

        let mut entries = Vec::with_capacity(self.syscalls.len());
        // (syscall number, entry index): which entries apply to which syscall, in profile order.
        let mut calls: Vec<(u32, u32)> = Vec::with_capacity(512);
        for (i, rule) in self.syscalls.iter().enumerate() {
            let entry = self.entry(i, rule)?;
            if !applies(rule, caps)? {
                continue;
            }
            let idx = entries.len() as u32;
            entries.push(entry);
            let single = rule.name.as_deref().filter(|n| !n.is_empty());
            for name in rule.names.iter().map(String::as_str).chain(single) {
                // Unknown here (another architecture's or a newer kernel's): skip, like runc.
                if let Some(nr) = syscall_number(name) {
                    calls.push((nr, idx));
                }
            }
        }
        // Stable: entries of one syscall stay in profile order.
        calls.sort_by_key(|&(nr, _)| nr);
        calls.dedup();

        let mut plan = Plan {
            default,
            segments: Vec::with_capacity(256),
            blocks: Vec::new(),
            allowed: 0,
            conditional: 0,
        };
        let mut next_nr = 0u32;
        let mut i = 0;
        while i < calls.len() {
            let nr = calls[i].0;
            let mut j = i;
            while j < calls.len() && calls[j].0 == nr {
                j += 1;
            }
            let leaf = plan.syscall(&entries, &calls[i..j]);
            if nr > next_nr {
                plan.push(next_nr, Leaf::Ret(default));
            }
            plan.push(nr, leaf);
            next_nr = nr + 1;
            i = j;
        }
        plan.push(next_nr, Leaf::Ret(default));

        let insns = plan.emit();
        if insns.len() > BPF_MAXINSNS {
            return Err(Error::invalid(format!(
                "seccomp profile: compiles to {} BPF instructions; the kernel allows {BPF_MAXINSNS}",
                insns.len()
            )));
        }
        Ok(Program {
            insns,
            default,
            allowed: plan.allowed,
            conditional: plan.conditional,
        })
    }
}

/// "personality" or "accept and 360 more", to name a syscall entry in messages.
fn rule_label(rule: &SyscallRule) -> String {
    let first = rule
        .names
        .first()
        .map(String::as_str)
        .or(rule.name.as_deref())
        .unwrap_or("no names");
    match rule.names.len() {
        0 | 1 => first.to_string(),
        n => format!("{first} and {} more", n - 1),
    }
}

/// moby's `setupSeccomp` conditions: `excludes` drops the entry if any of it matches,
/// `includes` keeps it only if all of it matches.
fn applies(rule: &SyscallRule, caps: &[&str]) -> Result<bool> {
    let has_cap = |c: &String| caps.iter().any(|have| have.eq_ignore_ascii_case(c));
    let native_arch = |a: &String| a == native::ARCH_NAME;
    let kernel_at_least = |v: &Option<String>| -> Result<Option<bool>> {
        match v.as_deref().and_then(|v| parse_kernel_version(v, true)) {
            Some(min) => Ok(Some(kernel_version()? >= min)),
            None => Ok(None),
        }
    };
    if let Some(ex) = &rule.excludes {
        if ex.arches.iter().any(native_arch)
            || ex.caps.iter().any(has_cap)
            || kernel_at_least(&ex.min_kernel)? == Some(true)
        {
            return Ok(false);
        }
    }
    if let Some(inc) = &rule.includes {
        if (!inc.arches.is_empty() && !inc.arches.iter().any(native_arch))
            || !inc.caps.iter().all(has_cap)
            || kernel_at_least(&inc.min_kernel)? == Some(false)
        {
            return Ok(false);
        }
    }
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// Code generation
// ---------------------------------------------------------------------------------------------

/// One classic-BPF instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

// install() hands our instructions to the kernel as sock_filter; keep the layouts identical.
const _: () = assert!(std::mem::size_of::<Insn>() == std::mem::size_of::<libc::sock_filter>());
const _: () = assert!(std::mem::align_of::<Insn>() == std::mem::align_of::<libc::sock_filter>());

/// Opcodes, spelled out from linux/filter.h: BPF_LD|BPF_W|BPF_ABS, BPF_ALU|BPF_AND|BPF_K,
/// BPF_JMP|BPF_JA, BPF_JMP|BPF_JEQ|BPF_K, BPF_JMP|BPF_JGT|BPF_K, BPF_JMP|BPF_JGE|BPF_K,
/// BPF_RET|BPF_K. These are all the seccomp verifier needs to accept from us.
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_ALU_AND_K: u16 = 0x54;
const BPF_JA: u16 = 0x05;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGT_K: u16 = 0x25;
const BPF_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;
const BPF_MAXINSNS: usize = 4096;

/// Offsets in `struct seccomp_data`: nr, arch, then the six 64-bit arguments from 16.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const DATA_ARGS: u32 = 16;
/// Where the low and high 32-bit halves of an argument sit within its 8 bytes.
const LOW_HALF: u32 = if cfg!(target_endian = "little") { 0 } else { 4 };
const HIGH_HALF: u32 = 4 - LOW_HALF;

/// How far a jump's target may be when we choose it: one below the u8 maximum, because
/// resolving the jump's other target may put one more instruction in between.
const NEAR: usize = 254;

/// A leaf of the syscall-number search: a return, or the code of one syscall's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    Ret(Action),
    Block(usize),
}

/// The numbers from `start` up to the next segment's start all get `leaf`.
struct Segment {
    start: u32,
    leaf: Leaf,
}

/// One syscall's conditional rules (tried in order) and the action when none matches.
struct Block {
    rules: Vec<(Vec<Cond>, Action)>,
    fallback: Action,
}

/// Everything the code generator needs, built from the profile by `compile`.
struct Plan {
    default: Action,
    segments: Vec<Segment>,
    blocks: Vec<Block>,
    allowed: usize,
    conditional: usize,
}

impl Plan {
    /// Turns the entries applying to one syscall into its leaf.
    fn syscall(&mut self, entries: &[Entry], calls: &[(u32, u32)]) -> Leaf {
        let applying = || calls.iter().map(|&(_, e)| &entries[e as usize]);
        let fallback = applying()
            .find(|e| e.unconditional())
            .map_or(self.default, |e| e.action);
        let mut rules: Vec<(Vec<Cond>, Action)> = applying()
            .filter(|e| !e.unconditional())
            .flat_map(|e| e.alternatives.iter().map(|alt| (alt.clone(), e.action)))
            .collect();
        // Trailing rules that would return the fallback anyway change nothing.
        while rules.last().is_some_and(|(_, a)| *a == fallback) {
            rules.pop();
        }
        if fallback == Action::Allow {
            self.allowed += 1;
        } else if rules.iter().any(|(_, a)| *a == Action::Allow) {
            self.allowed += 1;
            self.conditional += 1;
        }
        if rules.is_empty() {
            Leaf::Ret(fallback)
        } else {
            self.blocks.push(Block { rules, fallback });
            Leaf::Block(self.blocks.len() - 1)
        }
    }

    /// Appends a segment, merging it into the previous one when both return the same.
    fn push(&mut self, start: u32, leaf: Leaf) {
        if let (Some(last), Leaf::Ret(_)) = (self.segments.last(), leaf) {
            if last.leaf == leaf {
                return;
            }
        }
        self.segments.push(Segment { start, leaf });
    }

    /// The whole program: arch check, x32 check, then a binary search on the syscall number.
    fn emit(&self) -> Vec<Insn> {
        let mut b = Builder::default();
        let default = Target::Ret(self.default);
        let mut tree = self.emit_tree(&mut b, &self.segments);
        if let Some(x32_bit) = native::X32_SYSCALL_BIT {
            tree = Target::At(b.jump(BPF_JGE_K, x32_bit, default, tree));
        }
        b.fall_into(tree);
        let load_nr = b.load(DATA_NR);
        b.jump(BPF_JEQ_K, native::AUDIT_ARCH, Target::At(load_nr), default);
        b.load(DATA_ARCH);
        b.finish()
    }

    /// Binary search over `segs` (sorted by start, covering every number from 0): each node
    /// is one `jge start-of-right-half`, each leaf a return or a syscall's block.
    fn emit_tree(&self, b: &mut Builder, segs: &[Segment]) -> Target {
        match segs {
            [] => Target::Ret(self.default),
            [seg] => match seg.leaf {
                Leaf::Ret(action) => Target::Ret(action),
                Leaf::Block(i) => self.emit_block(b, &self.blocks[i]),
            },
            _ => {
                let mid = segs.len() / 2;
                // Emitted back to front: the right half lies after the left one.
                let right = self.emit_tree(b, &segs[mid..]);
                let left = self.emit_tree(b, &segs[..mid]);
                Target::At(b.jump(BPF_JGE_K, segs[mid].start, right, left))
            }
        }
    }

    /// One syscall's rules: each rule's checks in order, a failed check going to the next rule.
    fn emit_block(&self, b: &mut Builder, block: &Block) -> Target {
        let mut next = Target::Ret(block.fallback);
        for (conds, action) in block.rules.iter().rev() {
            let mut ok = Target::Ret(*action);
            for cond in conds.iter().rev() {
                ok = emit_cond(b, cond, ok, next);
            }
            next = ok;
        }
        next
    }
}

/// A 64-bit comparison from two 32-bit ones: the high halves decide unless they are equal,
/// then the low halves do. Goes to `ok` when the condition holds, else to `fail`.
fn emit_cond(b: &mut Builder, c: &Cond, ok: Target, fail: Target) -> Target {
    let base = DATA_ARGS + 8 * u32::from(c.index);
    let (lo_off, hi_off) = (base + LOW_HALF, base + HIGH_HALF);
    let (hi, lo) = ((c.value >> 32) as u32, c.value as u32);
    match c.op {
        Op::Eq | Op::Ne => {
            // Eq: both halves equal; Ne: the negation, so swap where the ends go.
            let (equal, differ) = if c.op == Op::Eq {
                (ok, fail)
            } else {
                (fail, ok)
            };
            b.jump(BPF_JEQ_K, lo, equal, differ);
            let lo_at = b.load(lo_off);
            b.jump(BPF_JEQ_K, hi, Target::At(lo_at), differ);
            Target::At(b.load(hi_off))
        }
        Op::MaskedEq => {
            let (mask_hi, mask_lo) = ((c.value >> 32) as u32, c.value as u32);
            let (want_hi, want_lo) = ((c.value_two >> 32) as u32, c.value_two as u32);
            b.jump(BPF_JEQ_K, want_lo, ok, fail);
            if mask_lo != u32::MAX {
                b.alu_and(mask_lo);
            }
            let lo_at = b.load(lo_off);
            if mask_hi == 0 && want_hi == 0 {
                // (x & 0) == 0 always: the high half cannot fail.
                return Target::At(lo_at);
            }
            b.jump(BPF_JEQ_K, want_hi, Target::At(lo_at), fail);
            if mask_hi != u32::MAX {
                b.alu_and(mask_hi);
            }
            Target::At(b.load(hi_off))
        }
        Op::Gt | Op::Ge | Op::Lt | Op::Le => {
            // A high half above the value's decides "greater", below decides "less".
            let (above, below) = match c.op {
                Op::Gt | Op::Ge => (ok, fail),
                _ => (fail, ok),
            };
            match c.op {
                Op::Gt => b.jump(BPF_JGT_K, lo, ok, fail),
                Op::Ge => b.jump(BPF_JGE_K, lo, ok, fail),
                Op::Lt => b.jump(BPF_JGE_K, lo, fail, ok),
                _ => b.jump(BPF_JGT_K, lo, fail, ok),
            };
            let lo_at = Target::At(b.load(lo_off));
            if hi == 0 {
                // Nothing is below zero: not above means equal.
                b.jump(BPF_JGT_K, 0, above, lo_at);
            } else if hi == u32::MAX {
                // Nothing is above the maximum: not equal means below.
                b.jump(BPF_JEQ_K, hi, lo_at, below);
            } else {
                let eq = b.jump(BPF_JEQ_K, hi, lo_at, below);
                b.jump(BPF_JGT_K, hi, above, Target::At(eq));
            }
            Target::At(b.load(hi_off))
        }
    }
}

/// Where a jump goes: an instruction already emitted, or any `ret` of an action.
#[derive(Debug, Clone, Copy)]
enum Target {
    At(usize),
    Ret(Action),
}

/// Builds the program back to front, so every jump target (always forward in classic BPF)
/// exists before the jump and its distance is known. Positions are counted from the end.
/// Returns are shared while within a jump's reach and copied when not; far jumps go through
/// a `ja` (32-bit offset) trampoline.
#[derive(Default)]
struct Builder {
    rev: Vec<Insn>,
    /// The nearest (most recently emitted) `ret` of each action.
    rets: Vec<(Action, usize)>,
}

impl Builder {
    fn here(&self) -> usize {
        self.rev.len()
    }

    fn push(&mut self, code: u16, jt: u8, jf: u8, k: u32) -> usize {
        self.rev.push(Insn { code, jt, jf, k });
        self.rev.len() - 1
    }

    fn load(&mut self, offset: u32) -> usize {
        self.push(BPF_LD_W_ABS, 0, 0, offset)
    }

    fn alu_and(&mut self, mask: u32) -> usize {
        self.push(BPF_ALU_AND_K, 0, 0, mask)
    }

    fn ret(&mut self, action: Action) -> usize {
        let at = self.push(BPF_RET_K, 0, 0, action.ret());
        match self.rets.iter_mut().find(|(a, _)| *a == action) {
            Some(slot) => slot.1 = at,
            None => self.rets.push((action, at)),
        }
        at
    }

    /// A position for `target` that the next instruction can reach with a short jump,
    /// emitting a copy of a return or a trampoline when the target is too far.
    fn reach(&mut self, target: Target) -> usize {
        let here = self.here();
        match target {
            Target::At(at) if here - at - 1 <= NEAR => at,
            Target::At(at) => self.push(BPF_JA, 0, 0, (here - at - 1) as u32),
            Target::Ret(action) => match self.rets.iter().find(|(a, _)| *a == action) {
                Some(&(_, at)) if here - at - 1 <= NEAR => at,
                _ => self.ret(action),
            },
        }
    }

    /// A conditional jump on `A <op> k`.
    fn jump(&mut self, code: u16, k: u32, jt: Target, jf: Target) -> usize {
        let t = self.reach(jt);
        let f = self.reach(jf);
        let here = self.here();
        // Both distances are at most NEAR + 2 = 255 (see NEAR), so they fit the u8 fields.
        self.push(code, (here - t - 1) as u8, (here - f - 1) as u8, k)
    }

    /// Makes `target` the instruction right after the one to be emitted next (a `ld`, which
    /// can only fall through).
    fn fall_into(&mut self, target: Target) {
        match target {
            Target::At(at) if at + 1 == self.here() => {}
            Target::At(at) => {
                let here = self.here();
                self.push(BPF_JA, 0, 0, (here - at - 1) as u32);
            }
            Target::Ret(action) => {
                self.ret(action);
            }
        }
    }

    fn finish(mut self) -> Vec<Insn> {
        self.rev.reverse();
        self.rev
    }
}

// ---------------------------------------------------------------------------------------------
// The compiled program
// ---------------------------------------------------------------------------------------------

/// A compiled filter for the native architecture, ready to install.
#[derive(Debug, Clone)]
pub struct Program {
    insns: Vec<Insn>,
    default: Action,
    allowed: usize,
    conditional: usize,
}

impl Program {
    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    pub fn instructions(&self) -> &[Insn] {
        &self.insns
    }

    /// The action for syscalls the profile does not name.
    pub fn default_action(&self) -> Action {
        self.default
    }

    /// One line for the trace mode, e.g.
    /// "seccomp: 309 syscalls allowed (3 conditionally), default errno EPERM, 107 BPF instructions".
    pub fn describe(&self) -> String {
        let conditional = if self.conditional > 0 {
            format!(" ({} conditionally)", self.conditional)
        } else {
            String::new()
        };
        format!(
            "seccomp: {} syscalls allowed{conditional}, default {}, {} BPF instructions",
            self.allowed,
            self.default,
            self.insns.len()
        )
    }

    /// Installs the filter on the calling thread only (no TSYNC), and so on what it executes:
    /// call it in the single-threaded last stage, just before execve. The caller must have set
    /// no_new_privs or hold CAP_SYS_ADMIN; filters stack and cannot be removed.
    pub fn install(&self) -> Result<()> {
        let len = u16::try_from(self.insns.len()).map_err(|_| {
            Error::invalid(format!(
                "seccomp: {} BPF instructions is too many to install",
                self.insns.len()
            ))
        })?;
        let prog = libc::sock_fprog {
            len,
            // The kernel only reads the filter; the pointer is mutable in the C declaration.
            filter: self.insns.as_ptr() as *mut libc::sock_filter,
        };
        let prog_ptr: *const libc::sock_fprog = &prog;
        // SAFETY: `prog` points at `len` instructions owned by self, laid out as sock_filter
        // (checked at compile time above); both outlive the call, which copies the filter.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
                0 as libc::c_ulong,
                prog_ptr,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let mut err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ENOSYS) {
            // Kernels before 3.17 have no seccomp(2), only the prctl form.
            // SAFETY: as above; prctl reads the same sock_fprog.
            let rc = unsafe {
                libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                    prog_ptr,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                )
            };
            if rc == 0 {
                return Ok(());
            }
            err = std::io::Error::last_os_error();
        }
        let hint = if err.raw_os_error() == Some(libc::EACCES) {
            " (needs no_new_privs or CAP_SYS_ADMIN)"
        } else {
            ""
        };
        Err(Error::with_source(
            Kind::Runtime,
            format!("seccomp: installing a filter of {len} BPF instructions{hint}"),
            err,
        ))
    }
}

/// The number of syscall `name` on the native architecture.
pub fn syscall_number(name: &str) -> Option<u32> {
    native::SYSCALLS
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| native::SYSCALLS[i].1)
}

/// The name of syscall number `nr` on the native architecture.
pub fn syscall_name(nr: u32) -> Option<&'static str> {
    native::SYSCALLS
        .iter()
        .find(|(_, n)| *n == nr)
        .map(|(name, _)| *name)
}

// ---------------------------------------------------------------------------------------------
// Docker's default profile
// ---------------------------------------------------------------------------------------------

/// One entry of the default profile in compact form; `docker_default` turns it into a
/// `SyscallRule`. Argument checks are (index, value, op) with valueTwo 0, as in moby's file.
struct Builtin {
    names: &'static [&'static str],
    action: &'static str,
    errno_ret: Option<u32>,
    args: &'static [(u32, u64, &'static str)],
    caps: &'static [&'static str],
    arches: &'static [&'static str],
    min_kernel: Option<&'static str>,
    not_caps: &'static [&'static str],
    not_arches: &'static [&'static str],
}

const fn allow(names: &'static [&'static str]) -> Builtin {
    Builtin {
        names,
        action: "SCMP_ACT_ALLOW",
        errno_ret: None,
        args: &[],
        caps: &[],
        arches: &[],
        min_kernel: None,
        not_caps: &[],
        not_arches: &[],
    }
}

impl Builtin {
    const fn errno(mut self, errno: u32) -> Builtin {
        self.action = "SCMP_ACT_ERRNO";
        self.errno_ret = Some(errno);
        self
    }
    const fn args(mut self, args: &'static [(u32, u64, &'static str)]) -> Builtin {
        self.args = args;
        self
    }
    const fn caps(mut self, caps: &'static [&'static str]) -> Builtin {
        self.caps = caps;
        self
    }
    const fn arches(mut self, arches: &'static [&'static str]) -> Builtin {
        self.arches = arches;
        self
    }
    const fn min_kernel(mut self, version: &'static str) -> Builtin {
        self.min_kernel = Some(version);
        self
    }
    const fn not_caps(mut self, caps: &'static [&'static str]) -> Builtin {
        self.not_caps = caps;
        self
    }
    const fn not_arches(mut self, arches: &'static [&'static str]) -> Builtin {
        self.not_arches = arches;
        self
    }
}

/// The unconditional allow-list of moby's default profile (its first entry), verbatim.
#[rustfmt::skip]
const DOCKER_ALLOW: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
    "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat",
    "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
    "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
    "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
    "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2",
    "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr",
    "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
    "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64",
    "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd", "getdents",
    "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
    "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
    "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32",
    "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
    "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "getxattrat",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
    "ioctl", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
    "ioprio_set", "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
    "link", "linkat", "listen", "listmount", "listxattr", "listxattrat", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack",
    "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
    "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
    "mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd",
    "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat",
    "_newselect", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe",
    "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
    "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
    "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
    "remap_file_pages", "removexattr", "removexattrat", "rename", "renameat", "renameat2",
    "restart_syscall", "riscv_hwprobe", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
    "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64",
    "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid",
    "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid",
    "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid",
    "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area",
    "set_tid_address", "setuid", "setuid32", "setxattr", "setxattrat", "shmat", "shmctl", "shmdt",
    "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn",
    "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statmount",
    "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee",
    "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
    "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "uretprobe", "utime",
    "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid",
    "write", "writev",];

const EQ: &str = "SCMP_CMP_EQ";
/// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
/// CLONE_NEWNET: clone may not create namespaces without CAP_SYS_ADMIN.
const CLONE_NEW_MASK: u64 = 0x7E02_0000;

/// moby's default profile, entry by entry in the file's order. What a container with Docker's
/// default capabilities cannot do follows from what is missing here: io_uring, userfaultfd,
/// keyctl/add_key/request_key, kexec, swapon, pivot_root and the rest of the admin calls, plus
/// the per-capability entries below when the capability is absent.
const DOCKER_RULES: &[Builtin] = &[
    allow(DOCKER_ALLOW),
    // ptrace cannot bypass seccomp since 4.8, so moby allows it (and the process_vm_* pair,
    // which need the same ptrace access check) without CAP_SYS_PTRACE from then on.
    allow(&["process_vm_readv", "process_vm_writev", "ptrace"]).min_kernel("4.8"),
    // Every address family except AF_ALG (38) and AF_VSOCK (40).
    allow(&["socket"]).args(&[(0, 38, "SCMP_CMP_LT")]),
    allow(&["socket"]).args(&[(0, 39, EQ)]),
    allow(&["socket"]).args(&[(0, 40, "SCMP_CMP_GT")]),
    // PER_LINUX, UNAME26, PER_LINUX32, UNAME26|PER_LINUX32, and the 0xffffffff query.
    allow(&["personality"]).args(&[(0, 0x0, EQ)]),
    allow(&["personality"]).args(&[(0, 0x8, EQ)]),
    allow(&["personality"]).args(&[(0, 0x20000, EQ)]),
    allow(&["personality"]).args(&[(0, 0x20008, EQ)]),
    allow(&["personality"]).args(&[(0, 0xffff_ffff, EQ)]),
    allow(&["sync_file_range2", "swapcontext"]).arches(&["ppc64le"]),
    allow(&[
        "arm_fadvise64_64",
        "arm_sync_file_range",
        "sync_file_range2",
        "breakpoint",
        "cacheflush",
        "set_tls",
    ])
    .arches(&["arm", "arm64"]),
    allow(&["arch_prctl"]).arches(&["amd64", "x32"]),
    allow(&["modify_ldt"]).arches(&["amd64", "x32", "x86"]),
    allow(&[
        "s390_pci_mmio_read",
        "s390_pci_mmio_write",
        "s390_runtime_instr",
    ])
    .arches(&["s390", "s390x"]),
    allow(&["riscv_flush_icache"]).arches(&["riscv64"]),
    allow(&["open_by_handle_at"]).caps(&["CAP_DAC_READ_SEARCH"]),
    allow(&[
        "bpf",
        "clone",
        "clone3",
        "fanotify_init",
        "fsconfig",
        "fsmount",
        "fsopen",
        "fspick",
        "lookup_dcookie",
        "lsm_get_self_attr",
        "lsm_list_modules",
        "lsm_set_self_attr",
        "mount",
        "mount_setattr",
        "move_mount",
        "open_tree",
        "perf_event_open",
        "quotactl",
        "quotactl_fd",
        "setdomainname",
        "sethostname",
        "setns",
        "syslog",
        "umount",
        "umount2",
        "unshare",
    ])
    .caps(&["CAP_SYS_ADMIN"]),
    allow(&["clone"])
        .args(&[(0, CLONE_NEW_MASK, "SCMP_CMP_MASKED_EQ")])
        .not_caps(&["CAP_SYS_ADMIN"])
        .not_arches(&["s390", "s390x"]),
    // s390 passes clone's flags second.
    allow(&["clone"])
        .args(&[(1, CLONE_NEW_MASK, "SCMP_CMP_MASKED_EQ")])
        .arches(&["s390", "s390x"])
        .not_caps(&["CAP_SYS_ADMIN"]),
    // clone3's flags are behind a pointer that seccomp cannot read: ENOSYS makes the C
    // library fall back to clone, whose flags the entries above can check.
    allow(&["clone3"]).errno(38).not_caps(&["CAP_SYS_ADMIN"]),
    allow(&["reboot"]).caps(&["CAP_SYS_BOOT"]),
    allow(&["chroot"]).caps(&["CAP_SYS_CHROOT"]),
    allow(&["delete_module", "init_module", "finit_module"]).caps(&["CAP_SYS_MODULE"]),
    allow(&["acct"]).caps(&["CAP_SYS_PACCT"]),
    allow(&[
        "kcmp",
        "pidfd_getfd",
        "process_madvise",
        "process_vm_readv",
        "process_vm_writev",
        "ptrace",
    ])
    .caps(&["CAP_SYS_PTRACE"]),
    allow(&["iopl", "ioperm"]).caps(&["CAP_SYS_RAWIO"]),
    allow(&["settimeofday", "stime", "clock_settime", "clock_settime64"]).caps(&["CAP_SYS_TIME"]),
    allow(&["vhangup"]).caps(&["CAP_SYS_TTY_CONFIG"]),
    allow(&[
        "get_mempolicy",
        "mbind",
        "set_mempolicy",
        "set_mempolicy_home_node",
    ])
    .caps(&["CAP_SYS_NICE"]),
    allow(&["syslog"]).caps(&["CAP_SYSLOG"]),
    allow(&["bpf"]).caps(&["CAP_BPF"]),
    allow(&["perf_event_open"]).caps(&["CAP_PERFMON"]),
];

impl Profile {
    /// Docker's default profile: default action ERRNO(EPERM), the allow-list above.
    pub fn docker_default() -> Profile {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let filter = |caps: &[&str], arches: &[&str], min_kernel: Option<&str>| {
            if caps.is_empty() && arches.is_empty() && min_kernel.is_none() {
                None
            } else {
                Some(Filter {
                    caps: strings(caps),
                    arches: strings(arches),
                    min_kernel: min_kernel.map(str::to_string),
                })
            }
        };
        let syscalls = DOCKER_RULES
            .iter()
            .map(|b| SyscallRule {
                names: strings(b.names),
                name: None,
                action: b.action.to_string(),
                errno_ret: b.errno_ret,
                args: b
                    .args
                    .iter()
                    .map(|&(index, value, op)| Arg {
                        index,
                        value,
                        value_two: 0,
                        op: op.to_string(),
                    })
                    .collect(),
                includes: filter(b.caps, b.arches, b.min_kernel),
                excludes: filter(b.not_caps, b.not_arches, None),
            })
            .collect();
        Profile {
            default_action: "SCMP_ACT_ERRNO".to_string(),
            default_errno_ret: Some(libc::EPERM as u32),
            architectures: Vec::new(),
            arch_map: Vec::new(),
            syscalls,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The native architecture
// ---------------------------------------------------------------------------------------------

/// x86_64: AUDIT_ARCH_X86_64, Docker's arch name, and the syscall table (name, number) sorted
/// by name, from the kernel's syscall_64.tbl up to 469 (file_setattr, Linux 6.17). Literal
/// numbers rather than libc::SYS_* because libc lacks the newest ones, which the default
/// profile allows; the tests check the table against libc where libc has a name.
#[cfg(target_arch = "x86_64")]
mod native {
    pub const AUDIT_ARCH: u32 = 0xC000_003E;
    pub const ARCH_NAME: &str = "amd64";
    /// x32 syscalls are x86_64 numbers with this bit set; they never reach the table.
    pub const X32_SYSCALL_BIT: Option<u32> = Some(0x4000_0000);
    #[rustfmt::skip]
    pub const SYSCALLS: &[(&str, u32)] = &[
    ("_sysctl", 156), ("accept", 43), ("accept4", 288), ("access", 21), ("acct", 163),
    ("add_key", 248), ("adjtimex", 159), ("afs_syscall", 183), ("alarm", 37), ("arch_prctl", 158),
    ("bind", 49), ("bpf", 321), ("brk", 12), ("cachestat", 451), ("capget", 125), ("capset", 126),
    ("chdir", 80), ("chmod", 90), ("chown", 92), ("chroot", 161), ("clock_adjtime", 305),
    ("clock_getres", 229), ("clock_gettime", 228), ("clock_nanosleep", 230),
    ("clock_settime", 227), ("clone", 56), ("clone3", 435), ("close", 3), ("close_range", 436),
    ("connect", 42), ("copy_file_range", 326), ("creat", 85), ("create_module", 174),
    ("delete_module", 176), ("dup", 32), ("dup2", 33), ("dup3", 292), ("epoll_create", 213),
    ("epoll_create1", 291), ("epoll_ctl", 233), ("epoll_ctl_old", 214), ("epoll_pwait", 281),
    ("epoll_pwait2", 441), ("epoll_wait", 232), ("epoll_wait_old", 215), ("eventfd", 284),
    ("eventfd2", 290), ("execve", 59), ("execveat", 322), ("exit", 60), ("exit_group", 231),
    ("faccessat", 269), ("faccessat2", 439), ("fadvise64", 221), ("fallocate", 285),
    ("fanotify_init", 300), ("fanotify_mark", 301), ("fchdir", 81), ("fchmod", 91),
    ("fchmodat", 268), ("fchmodat2", 452), ("fchown", 93), ("fchownat", 260), ("fcntl", 72),
    ("fdatasync", 75), ("fgetxattr", 193), ("file_getattr", 468), ("file_setattr", 469),
    ("finit_module", 313), ("flistxattr", 196), ("flock", 73), ("fork", 57),
    ("fremovexattr", 199), ("fsconfig", 431), ("fsetxattr", 190), ("fsmount", 432),
    ("fsopen", 430), ("fspick", 433), ("fstat", 5), ("fstatfs", 138), ("fsync", 74),
    ("ftruncate", 77), ("futex", 202), ("futex_requeue", 456), ("futex_wait", 455),
    ("futex_waitv", 449), ("futex_wake", 454), ("futimesat", 261), ("get_kernel_syms", 177),
    ("get_mempolicy", 239), ("get_robust_list", 274), ("get_thread_area", 211), ("getcpu", 309),
    ("getcwd", 79), ("getdents", 78), ("getdents64", 217), ("getegid", 108), ("geteuid", 107),
    ("getgid", 104), ("getgroups", 115), ("getitimer", 36), ("getpeername", 52), ("getpgid", 121),
    ("getpgrp", 111), ("getpid", 39), ("getpmsg", 181), ("getppid", 110), ("getpriority", 140),
    ("getrandom", 318), ("getresgid", 120), ("getresuid", 118), ("getrlimit", 97),
    ("getrusage", 98), ("getsid", 124), ("getsockname", 51), ("getsockopt", 55), ("gettid", 186),
    ("gettimeofday", 96), ("getuid", 102), ("getxattr", 191), ("getxattrat", 464),
    ("init_module", 175), ("inotify_add_watch", 254), ("inotify_init", 253),
    ("inotify_init1", 294), ("inotify_rm_watch", 255), ("io_cancel", 210), ("io_destroy", 207),
    ("io_getevents", 208), ("io_pgetevents", 333), ("io_setup", 206), ("io_submit", 209),
    ("io_uring_enter", 426), ("io_uring_register", 427), ("io_uring_setup", 425), ("ioctl", 16),
    ("ioperm", 173), ("iopl", 172), ("ioprio_get", 252), ("ioprio_set", 251), ("kcmp", 312),
    ("kexec_file_load", 320), ("kexec_load", 246), ("keyctl", 250), ("kill", 62),
    ("landlock_add_rule", 445), ("landlock_create_ruleset", 444), ("landlock_restrict_self", 446),
    ("lchown", 94), ("lgetxattr", 192), ("link", 86), ("linkat", 265), ("listen", 50),
    ("listmount", 458), ("listxattr", 194), ("listxattrat", 465), ("llistxattr", 195),
    ("lookup_dcookie", 212), ("lremovexattr", 198), ("lseek", 8), ("lsetxattr", 189),
    ("lsm_get_self_attr", 459), ("lsm_list_modules", 461), ("lsm_set_self_attr", 460),
    ("lstat", 6), ("madvise", 28), ("map_shadow_stack", 453), ("mbind", 237), ("membarrier", 324),
    ("memfd_create", 319), ("memfd_secret", 447), ("migrate_pages", 256), ("mincore", 27),
    ("mkdir", 83), ("mkdirat", 258), ("mknod", 133), ("mknodat", 259), ("mlock", 149),
    ("mlock2", 325), ("mlockall", 151), ("mmap", 9), ("modify_ldt", 154), ("mount", 165),
    ("mount_setattr", 442), ("move_mount", 429), ("move_pages", 279), ("mprotect", 10),
    ("mq_getsetattr", 245), ("mq_notify", 244), ("mq_open", 240), ("mq_timedreceive", 243),
    ("mq_timedsend", 242), ("mq_unlink", 241), ("mremap", 25), ("mseal", 462), ("msgctl", 71),
    ("msgget", 68), ("msgrcv", 70), ("msgsnd", 69), ("msync", 26), ("munlock", 150),
    ("munlockall", 152), ("munmap", 11), ("name_to_handle_at", 303), ("nanosleep", 35),
    ("newfstatat", 262), ("nfsservctl", 180), ("open", 2), ("open_by_handle_at", 304),
    ("open_tree", 428), ("open_tree_attr", 467), ("openat", 257), ("openat2", 437), ("pause", 34),
    ("perf_event_open", 298), ("personality", 135), ("pidfd_getfd", 438), ("pidfd_open", 434),
    ("pidfd_send_signal", 424), ("pipe", 22), ("pipe2", 293), ("pivot_root", 155),
    ("pkey_alloc", 330), ("pkey_free", 331), ("pkey_mprotect", 329), ("poll", 7), ("ppoll", 271),
    ("prctl", 157), ("pread64", 17), ("preadv", 295), ("preadv2", 327), ("prlimit64", 302),
    ("process_madvise", 440), ("process_mrelease", 448), ("process_vm_readv", 310),
    ("process_vm_writev", 311), ("pselect6", 270), ("ptrace", 101), ("putpmsg", 182),
    ("pwrite64", 18), ("pwritev", 296), ("pwritev2", 328), ("query_module", 178),
    ("quotactl", 179), ("quotactl_fd", 443), ("read", 0), ("readahead", 187), ("readlink", 89),
    ("readlinkat", 267), ("readv", 19), ("reboot", 169), ("recvfrom", 45), ("recvmmsg", 299),
    ("recvmsg", 47), ("remap_file_pages", 216), ("removexattr", 197), ("removexattrat", 466),
    ("rename", 82), ("renameat", 264), ("renameat2", 316), ("request_key", 249),
    ("restart_syscall", 219), ("rmdir", 84), ("rseq", 334), ("rt_sigaction", 13),
    ("rt_sigpending", 127), ("rt_sigprocmask", 14), ("rt_sigqueueinfo", 129),
    ("rt_sigreturn", 15), ("rt_sigsuspend", 130), ("rt_sigtimedwait", 128),
    ("rt_tgsigqueueinfo", 297), ("sched_get_priority_max", 146), ("sched_get_priority_min", 147),
    ("sched_getaffinity", 204), ("sched_getattr", 315), ("sched_getparam", 143),
    ("sched_getscheduler", 145), ("sched_rr_get_interval", 148), ("sched_setaffinity", 203),
    ("sched_setattr", 314), ("sched_setparam", 142), ("sched_setscheduler", 144),
    ("sched_yield", 24), ("seccomp", 317), ("security", 185), ("select", 23), ("semctl", 66),
    ("semget", 64), ("semop", 65), ("semtimedop", 220), ("sendfile", 40), ("sendmmsg", 307),
    ("sendmsg", 46), ("sendto", 44), ("set_mempolicy", 238), ("set_mempolicy_home_node", 450),
    ("set_robust_list", 273), ("set_thread_area", 205), ("set_tid_address", 218),
    ("setdomainname", 171), ("setfsgid", 123), ("setfsuid", 122), ("setgid", 106),
    ("setgroups", 116), ("sethostname", 170), ("setitimer", 38), ("setns", 308), ("setpgid", 109),
    ("setpriority", 141), ("setregid", 114), ("setresgid", 119), ("setresuid", 117),
    ("setreuid", 113), ("setrlimit", 160), ("setsid", 112), ("setsockopt", 54),
    ("settimeofday", 164), ("setuid", 105), ("setxattr", 188), ("setxattrat", 463), ("shmat", 30),
    ("shmctl", 31), ("shmdt", 67), ("shmget", 29), ("shutdown", 48), ("sigaltstack", 131),
    ("signalfd", 282), ("signalfd4", 289), ("socket", 41), ("socketpair", 53), ("splice", 275),
    ("stat", 4), ("statfs", 137), ("statmount", 457), ("statx", 332), ("swapoff", 168),
    ("swapon", 167), ("symlink", 88), ("symlinkat", 266), ("sync", 162), ("sync_file_range", 277),
    ("syncfs", 306), ("sysfs", 139), ("sysinfo", 99), ("syslog", 103), ("tee", 276),
    ("tgkill", 234), ("time", 201), ("timer_create", 222), ("timer_delete", 226),
    ("timer_getoverrun", 225), ("timer_gettime", 224), ("timer_settime", 223),
    ("timerfd_create", 283), ("timerfd_gettime", 287), ("timerfd_settime", 286), ("times", 100),
    ("tkill", 200), ("truncate", 76), ("tuxcall", 184), ("umask", 95), ("umount2", 166),
    ("uname", 63), ("unlink", 87), ("unlinkat", 263), ("unshare", 272), ("uretprobe", 335),
    ("uselib", 134), ("userfaultfd", 323), ("ustat", 136), ("utime", 132), ("utimensat", 280),
    ("utimes", 235), ("vfork", 58), ("vhangup", 153), ("vmsplice", 278), ("vserver", 236),
    ("wait4", 61), ("waitid", 247), ("write", 1), ("writev", 20),    ];
}

/// aarch64: AUDIT_ARCH_AARCH64 and the asm-generic syscall table as arm64 builds it, sorted by
/// name, up to 469 (file_setattr, Linux 6.17).
#[cfg(target_arch = "aarch64")]
mod native {
    pub const AUDIT_ARCH: u32 = 0xC000_00B7;
    pub const ARCH_NAME: &str = "arm64";
    pub const X32_SYSCALL_BIT: Option<u32> = None;
    #[rustfmt::skip]
    pub const SYSCALLS: &[(&str, u32)] = &[
    ("accept", 202), ("accept4", 242), ("acct", 89), ("add_key", 217), ("adjtimex", 171),
    ("bind", 200), ("bpf", 280), ("brk", 214), ("cachestat", 451), ("capget", 90), ("capset", 91),
    ("chdir", 49), ("chroot", 51), ("clock_adjtime", 266), ("clock_getres", 114),
    ("clock_gettime", 113), ("clock_nanosleep", 115), ("clock_settime", 112), ("clone", 220),
    ("clone3", 435), ("close", 57), ("close_range", 436), ("connect", 203),
    ("copy_file_range", 285), ("delete_module", 106), ("dup", 23), ("dup3", 24),
    ("epoll_create1", 20), ("epoll_ctl", 21), ("epoll_pwait", 22), ("epoll_pwait2", 441),
    ("eventfd2", 19), ("execve", 221), ("execveat", 281), ("exit", 93), ("exit_group", 94),
    ("faccessat", 48), ("faccessat2", 439), ("fadvise64", 223), ("fallocate", 47),
    ("fanotify_init", 262), ("fanotify_mark", 263), ("fchdir", 50), ("fchmod", 52),
    ("fchmodat", 53), ("fchmodat2", 452), ("fchown", 55), ("fchownat", 54), ("fcntl", 25),
    ("fdatasync", 83), ("fgetxattr", 10), ("file_getattr", 468), ("file_setattr", 469),
    ("finit_module", 273), ("flistxattr", 13), ("flock", 32), ("fremovexattr", 16),
    ("fsconfig", 431), ("fsetxattr", 7), ("fsmount", 432), ("fsopen", 430), ("fspick", 433),
    ("fstat", 80), ("fstatfs", 44), ("fsync", 82), ("ftruncate", 46), ("futex", 98),
    ("futex_requeue", 456), ("futex_wait", 455), ("futex_waitv", 449), ("futex_wake", 454),
    ("get_mempolicy", 236), ("get_robust_list", 100), ("getcpu", 168), ("getcwd", 17),
    ("getdents64", 61), ("getegid", 177), ("geteuid", 175), ("getgid", 176), ("getgroups", 158),
    ("getitimer", 102), ("getpeername", 205), ("getpgid", 155), ("getpid", 172), ("getppid", 173),
    ("getpriority", 141), ("getrandom", 278), ("getresgid", 150), ("getresuid", 148),
    ("getrlimit", 163), ("getrusage", 165), ("getsid", 156), ("getsockname", 204),
    ("getsockopt", 209), ("gettid", 178), ("gettimeofday", 169), ("getuid", 174), ("getxattr", 8),
    ("getxattrat", 464), ("init_module", 105), ("inotify_add_watch", 27), ("inotify_init1", 26),
    ("inotify_rm_watch", 28), ("io_cancel", 3), ("io_destroy", 1), ("io_getevents", 4),
    ("io_pgetevents", 292), ("io_setup", 0), ("io_submit", 2), ("io_uring_enter", 426),
    ("io_uring_register", 427), ("io_uring_setup", 425), ("ioctl", 29), ("ioprio_get", 31),
    ("ioprio_set", 30), ("kcmp", 272), ("kexec_file_load", 294), ("kexec_load", 104),
    ("keyctl", 219), ("kill", 129), ("landlock_add_rule", 445), ("landlock_create_ruleset", 444),
    ("landlock_restrict_self", 446), ("lgetxattr", 9), ("linkat", 37), ("listen", 201),
    ("listmount", 458), ("listxattr", 11), ("listxattrat", 465), ("llistxattr", 12),
    ("lookup_dcookie", 18), ("lremovexattr", 15), ("lseek", 62), ("lsetxattr", 6),
    ("lsm_get_self_attr", 459), ("lsm_list_modules", 461), ("lsm_set_self_attr", 460),
    ("madvise", 233), ("map_shadow_stack", 453), ("mbind", 235), ("membarrier", 283),
    ("memfd_create", 279), ("memfd_secret", 447), ("migrate_pages", 238), ("mincore", 232),
    ("mkdirat", 34), ("mknodat", 33), ("mlock", 228), ("mlock2", 284), ("mlockall", 230),
    ("mmap", 222), ("mount", 40), ("mount_setattr", 442), ("move_mount", 429),
    ("move_pages", 239), ("mprotect", 226), ("mq_getsetattr", 185), ("mq_notify", 184),
    ("mq_open", 180), ("mq_timedreceive", 183), ("mq_timedsend", 182), ("mq_unlink", 181),
    ("mremap", 216), ("mseal", 462), ("msgctl", 187), ("msgget", 186), ("msgrcv", 188),
    ("msgsnd", 189), ("msync", 227), ("munlock", 229), ("munlockall", 231), ("munmap", 215),
    ("name_to_handle_at", 264), ("nanosleep", 101), ("newfstatat", 79), ("nfsservctl", 42),
    ("open_by_handle_at", 265), ("open_tree", 428), ("open_tree_attr", 467), ("openat", 56),
    ("openat2", 437), ("perf_event_open", 241), ("personality", 92), ("pidfd_getfd", 438),
    ("pidfd_open", 434), ("pidfd_send_signal", 424), ("pipe2", 59), ("pivot_root", 41),
    ("pkey_alloc", 289), ("pkey_free", 290), ("pkey_mprotect", 288), ("ppoll", 73),
    ("prctl", 167), ("pread64", 67), ("preadv", 69), ("preadv2", 286), ("prlimit64", 261),
    ("process_madvise", 440), ("process_mrelease", 448), ("process_vm_readv", 270),
    ("process_vm_writev", 271), ("pselect6", 72), ("ptrace", 117), ("pwrite64", 68),
    ("pwritev", 70), ("pwritev2", 287), ("quotactl", 60), ("quotactl_fd", 443), ("read", 63),
    ("readahead", 213), ("readlinkat", 78), ("readv", 65), ("reboot", 142), ("recvfrom", 207),
    ("recvmmsg", 243), ("recvmsg", 212), ("remap_file_pages", 234), ("removexattr", 14),
    ("removexattrat", 466), ("renameat", 38), ("renameat2", 276), ("request_key", 218),
    ("restart_syscall", 128), ("rseq", 293), ("rt_sigaction", 134), ("rt_sigpending", 136),
    ("rt_sigprocmask", 135), ("rt_sigqueueinfo", 138), ("rt_sigreturn", 139),
    ("rt_sigsuspend", 133), ("rt_sigtimedwait", 137), ("rt_tgsigqueueinfo", 240),
    ("sched_get_priority_max", 125), ("sched_get_priority_min", 126), ("sched_getaffinity", 123),
    ("sched_getattr", 275), ("sched_getparam", 121), ("sched_getscheduler", 120),
    ("sched_rr_get_interval", 127), ("sched_setaffinity", 122), ("sched_setattr", 274),
    ("sched_setparam", 118), ("sched_setscheduler", 119), ("sched_yield", 124), ("seccomp", 277),
    ("semctl", 191), ("semget", 190), ("semop", 193), ("semtimedop", 192), ("sendfile", 71),
    ("sendmmsg", 269), ("sendmsg", 211), ("sendto", 206), ("set_mempolicy", 237),
    ("set_mempolicy_home_node", 450), ("set_robust_list", 99), ("set_tid_address", 96),
    ("setdomainname", 162), ("setfsgid", 152), ("setfsuid", 151), ("setgid", 144),
    ("setgroups", 159), ("sethostname", 161), ("setitimer", 103), ("setns", 268),
    ("setpgid", 154), ("setpriority", 140), ("setregid", 143), ("setresgid", 149),
    ("setresuid", 147), ("setreuid", 145), ("setrlimit", 164), ("setsid", 157),
    ("setsockopt", 208), ("settimeofday", 170), ("setuid", 146), ("setxattr", 5),
    ("setxattrat", 463), ("shmat", 196), ("shmctl", 195), ("shmdt", 197), ("shmget", 194),
    ("shutdown", 210), ("sigaltstack", 132), ("signalfd4", 74), ("socket", 198),
    ("socketpair", 199), ("splice", 76), ("statfs", 43), ("statmount", 457), ("statx", 291),
    ("swapoff", 225), ("swapon", 224), ("symlinkat", 36), ("sync", 81), ("sync_file_range", 84),
    ("syncfs", 267), ("sysinfo", 179), ("syslog", 116), ("tee", 77), ("tgkill", 131),
    ("timer_create", 107), ("timer_delete", 111), ("timer_getoverrun", 109),
    ("timer_gettime", 108), ("timer_settime", 110), ("timerfd_create", 85),
    ("timerfd_gettime", 87), ("timerfd_settime", 86), ("times", 153), ("tkill", 130),
    ("truncate", 45), ("umask", 166), ("umount2", 39), ("uname", 160), ("unlinkat", 35),
    ("unshare", 97), ("userfaultfd", 282), ("utimensat", 88), ("vhangup", 58), ("vmsplice", 75),
    ("wait4", 260), ("waitid", 95), ("write", 64), ("writev", 66),    ];
}

/// Elsewhere there is no table, and `compile` says so.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod native {
    pub const AUDIT_ARCH: u32 = 0;
    pub const ARCH_NAME: &str = "";
    pub const X32_SYSCALL_BIT: Option<u32> = None;
    pub const SYSCALLS: &[(&str, u32)] = &[];
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Docker's default capability set (moby's oci/caps/defaults.go).
    const DOCKER_CAPS: &[&str] = &[
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ];

    const EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;
    const ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;
    const ALLOW: u32 = 0x7fff_0000;

    /// A classic-BPF interpreter for what we emit, checking what the kernel's verifier checks
    /// as it goes (known opcode, jumps inside the program, ends in a return).
    fn run(prog: &[Insn], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_ne_bytes());
        data[4..8].copy_from_slice(&arch.to_ne_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        let mut acc: u32 = 0;
        let mut pc = 0usize;
        loop {
            assert!(pc < prog.len(), "pc {pc} ran off the program");
            let i = prog[pc];
            pc += 1;
            let k = i.k;
            let cond = |taken: bool| usize::from(if taken { i.jt } else { i.jf });
            match i.code {
                BPF_LD_W_ABS => {
                    let k = k as usize;
                    assert!(k.is_multiple_of(4) && k + 4 <= 64, "bad load offset {k}");
                    acc = u32::from_ne_bytes(data[k..k + 4].try_into().unwrap());
                }
                BPF_ALU_AND_K => acc &= k,
                BPF_JA => pc += k as usize,
                BPF_JEQ_K => pc += cond(acc == k),
                BPF_JGT_K => pc += cond(acc > k),
                BPF_JGE_K => pc += cond(acc >= k),
                BPF_RET_K => return k,
                other => panic!("unknown opcode {other:#x}"),
            }
        }
    }

    /// Every jump lands inside the program and the program ends with a return.
    fn check_shape(prog: &[Insn]) {
        assert!(!prog.is_empty() && prog.len() <= BPF_MAXINSNS);
        assert_eq!(prog.last().unwrap().code, BPF_RET_K);
        for (pc, i) in prog.iter().enumerate() {
            match i.code {
                BPF_JA => assert!(pc + 1 + (i.k as usize) < prog.len()),
                BPF_JEQ_K | BPF_JGT_K | BPF_JGE_K => {
                    assert!(pc + 1 + usize::from(i.jt.max(i.jf)) < prog.len())
                }
                _ => {}
            }
        }
    }

    fn nr(name: &str) -> u32 {
        syscall_number(name).unwrap_or_else(|| panic!("no syscall {name}"))
    }

    fn decide(p: &Program, name: &str, args: [u64; 6]) -> u32 {
        run(&p.insns, native::AUDIT_ARCH, nr(name), args)
    }

    fn a0(x: u64) -> [u64; 6] {
        [x, 0, 0, 0, 0, 0]
    }

    /// The profile read directly, without code generation: for each syscall number, the
    /// applying entries in profile order.
    struct Reference {
        default: Action,
        by_nr: std::collections::HashMap<u32, Vec<Entry>>,
    }

    impl Reference {
        fn new(profile: &Profile, caps: &[&str]) -> Reference {
            let mut by_nr: std::collections::HashMap<u32, Vec<Entry>> = Default::default();
            for (i, rule) in profile.syscalls.iter().enumerate() {
                if !applies(rule, caps).unwrap() {
                    continue;
                }
                let names = rule.names.iter().map(String::as_str);
                for nr in names.chain(rule.name.as_deref()).filter_map(syscall_number) {
                    by_nr
                        .entry(nr)
                        .or_default()
                        .push(profile.entry(i, rule).unwrap());
                }
            }
            Reference {
                default: profile.default_action().unwrap(),
                by_nr,
            }
        }

        /// The first matching conditional entry, else the first unconditional one, else the
        /// default; x32 numbers and other architectures get the default.
        fn decide(&self, nr: u32, args: &[u64; 6]) -> u32 {
            if native::X32_SYSCALL_BIT.is_some_and(|b| nr >= b) {
                return self.default.ret();
            }
            let entries = self.by_nr.get(&nr).map_or(&[][..], |v| &v[..]);
            let matching = entries.iter().find(|e| {
                !e.unconditional()
                    && e.alternatives
                        .iter()
                        .any(|alt| alt.iter().all(|c| c.holds(args)))
            });
            let fallback = entries.iter().find(|e| e.unconditional());
            matching
                .or(fallback)
                .map_or(self.default, |e| e.action)
                .ret()
        }
    }

    /// Argument values around the edges the default profile and the tests compare against.
    const PROBES: &[u64] = &[
        0,
        1,
        8,
        37,
        38,
        39,
        40,
        41,
        0x20000,
        0x20008,
        0x1234,
        0x7E02_0000,
        0x1000_0000 | 17,
        0x0001_0f00 | 17,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0008,
        0xffff_ffff_ffff_ffff,
        0x8000_0000_0000_0000,
    ];

    fn compare_with_reference(profile: &Profile, caps: &[&str], args_at: usize) {
        let prog = profile.compile(caps).unwrap();
        check_shape(&prog.insns);
        let reference = Reference::new(profile, caps);
        for nr in (0..1100).chain([0x3fff_ffff, 0x4000_0000, 0x4000_0001, u32::MAX]) {
            for &v in PROBES {
                let mut args = [0u64; 6];
                args[args_at] = v;
                let want = reference.decide(nr, &args);
                let got = run(&prog.insns, native::AUDIT_ARCH, nr, args);
                assert_eq!(got, want, "nr {nr} args {args:x?} caps {caps:?}");
            }
        }
    }

    #[test]
    fn default_profile_decisions() {
        let profile = Profile::docker_default();
        profile.validate().unwrap();
        let p = profile.compile(DOCKER_CAPS).unwrap();
        check_shape(&p.insns);
        println!("{}", p.describe());
        assert_eq!(p.default_action(), Action::Errno(1));
        let table: &[(&str, [u64; 6], u32)] = &[
            ("read", a0(3), ALLOW),
            ("write", a0(1), ALLOW),
            ("openat", a0(0), ALLOW),
            ("execve", a0(0), ALLOW),
            ("exit_group", a0(0), ALLOW),
            ("chroot", a0(0), ALLOW), // CAP_SYS_CHROOT is a Docker default
            ("perf_event_open", a0(0), EPERM),
            ("userfaultfd", a0(0), EPERM),
            ("io_uring_setup", a0(0), EPERM),
            ("io_uring_enter", a0(0), EPERM),
            ("io_uring_register", a0(0), EPERM),
            ("keyctl", a0(0), EPERM),
            ("add_key", a0(0), EPERM),
            ("request_key", a0(0), EPERM),
            ("bpf", a0(0), EPERM),
            ("mount", a0(0), EPERM),
            ("umount2", a0(0), EPERM),
            ("kexec_load", a0(0), EPERM),
            ("init_module", a0(0), EPERM),
            ("finit_module", a0(0), EPERM),
            ("reboot", a0(0), EPERM),
            ("swapon", a0(0), EPERM),
            ("setns", a0(0), EPERM),
            ("pivot_root", a0(0), EPERM),
            ("unshare", a0(0), EPERM),
            ("unshare", a0(libc::CLONE_NEWUSER as u64), EPERM),
            ("open_by_handle_at", a0(0), EPERM),
            ("kcmp", a0(0), EPERM),
            ("clock_settime", a0(0), EPERM),
            ("syslog", a0(0), EPERM),
            // moby allows ptrace on kernels from 4.8, where it can no longer bypass seccomp.
            ("ptrace", a0(0), ALLOW),
            ("personality", a0(0), ALLOW),
            ("personality", a0(0x8), ALLOW),
            ("personality", a0(0x20000), ALLOW),
            ("personality", a0(0x20008), ALLOW),
            ("personality", a0(0xffff_ffff), ALLOW),
            ("personality", a0(0x1234), EPERM),
            ("personality", a0(0x1_0000_0008), EPERM),
            ("socket", a0(libc::AF_INET as u64), ALLOW),
            ("socket", a0(libc::AF_UNIX as u64), ALLOW),
            ("socket", a0(libc::AF_NETLINK as u64), ALLOW),
            ("socket", a0(37), ALLOW),
            ("socket", a0(38), EPERM),
            ("socket", a0(39), ALLOW),
            ("socket", a0(40), EPERM),
            ("socket", a0(41), ALLOW),
            ("clone", a0(libc::SIGCHLD as u64), ALLOW),
            ("clone", a0(0x003d_0f00), ALLOW), // glibc's pthread_create flags
            ("clone", a0(libc::CLONE_NEWUSER as u64 | 17), EPERM),
            ("clone", a0(libc::CLONE_NEWNS as u64 | 17), EPERM),
            ("clone", a0(libc::CLONE_NEWNET as u64), EPERM),
            ("clone3", a0(0), ENOSYS),
        ];
        for (name, args, want) in table {
            let got = decide(&p, name, *args);
            assert_eq!(got, *want, "{name}({:#x})", args[0]);
        }
        // Every name in the allow-list this architecture has.
        let mut listed = 0;
        for name in DOCKER_ALLOW {
            if let Some(n) = syscall_number(name) {
                listed += 1;
                let got = run(&p.insns, native::AUDIT_ARCH, n, [0; 6]);
                assert_eq!(got, ALLOW, "{name} ({n})");
            }
        }
        assert!(listed > 250, "only {listed} allow-list names resolved");
        // Beyond the table, another ABI, another architecture.
        assert_eq!(run(&p.insns, native::AUDIT_ARCH, 1000, [0; 6]), EPERM);
        assert_eq!(run(&p.insns, native::AUDIT_ARCH, u32::MAX, [0; 6]), EPERM);
        assert_eq!(run(&p.insns, 0x4000_0003, 0, [0; 6]), EPERM); // AUDIT_ARCH_I386
        assert_eq!(run(&p.insns, 0, nr("read"), [0; 6]), EPERM);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn default_profile_x86_64_specifics() {
        let p = Profile::docker_default().compile(DOCKER_CAPS).unwrap();
        // x32 read and x32 write.
        assert_eq!(
            run(&p.insns, native::AUDIT_ARCH, 0x4000_0000, [0; 6]),
            EPERM
        );
        assert_eq!(
            run(&p.insns, native::AUDIT_ARCH, 0x4000_0001, [0; 6]),
            EPERM
        );
        assert_eq!(decide(&p, "arch_prctl", [0; 6]), ALLOW);
        assert_eq!(decide(&p, "modify_ldt", [0; 6]), ALLOW);
        assert_eq!(decide(&p, "iopl", [0; 6]), EPERM);
        assert_eq!(decide(&p, "uretprobe", [0; 6]), ALLOW);
        assert_eq!(decide(&p, "mseal", [0; 6]), ALLOW);
    }

    #[test]
    fn default_profile_with_capabilities() {
        let mut caps = DOCKER_CAPS.to_vec();
        caps.extend([
            "CAP_SYS_ADMIN",
            "CAP_SYS_PTRACE",
            "CAP_SYS_MODULE",
            "CAP_PERFMON",
        ]);
        let p = Profile::docker_default().compile(&caps).unwrap();
        check_shape(&p.insns);
        for (name, args, want) in [
            ("clone", a0(libc::CLONE_NEWUSER as u64 | 17), ALLOW),
            ("clone", a0(libc::SIGCHLD as u64), ALLOW),
            ("clone3", a0(0), ALLOW),
            ("unshare", a0(libc::CLONE_NEWUSER as u64), ALLOW),
            ("mount", a0(0), ALLOW),
            ("setns", a0(0), ALLOW),
            ("bpf", a0(0), ALLOW),
            ("perf_event_open", a0(0), ALLOW),
            ("kcmp", a0(0), ALLOW),
            ("init_module", a0(0), ALLOW),
            ("reboot", a0(0), EPERM),
            ("keyctl", a0(0), EPERM),
            ("io_uring_setup", a0(0), EPERM),
            ("personality", a0(0x1234), EPERM),
        ] {
            assert_eq!(decide(&p, name, args), want, "{name}({:#x})", args[0]);
        }
        // Capability names are matched without regard to case.
        let lower = Profile::docker_default()
            .compile(&["cap_sys_admin"])
            .unwrap();
        assert_eq!(decide(&lower, "mount", [0; 6]), ALLOW);
    }

    #[test]
    fn default_profile_matches_reference_everywhere() {
        let profile = Profile::docker_default();
        let admin: Vec<&str> = DOCKER_CAPS
            .iter()
            .copied()
            .chain(["CAP_SYS_ADMIN"])
            .collect();
        for caps in [DOCKER_CAPS, &admin[..], &[][..]] {
            compare_with_reference(&profile, caps, 0);
        }
    }

    #[test]
    fn default_profile_length_and_compile_time() {
        let profile = Profile::docker_default();
        let p = profile.compile(DOCKER_CAPS).unwrap();
        assert!(p.len() < 1000, "{} instructions", p.len());
        let rounds = 200;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(profile.compile(DOCKER_CAPS).unwrap());
        }
        let compile = start.elapsed() / rounds;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(Profile::docker_default());
        }
        let build = start.elapsed() / rounds;
        println!(
            "default profile: {} BPF instructions; compile {compile:?}, docker_default() {build:?}",
            p.len()
        );
    }

    const CUSTOM: &str = r#"{
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "someFutureField": {"ignored": true},
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"name": "kill", "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getpid"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
            {"names": ["gettid"], "action": "SCMP_ACT_LOG"},
            {"names": ["getppid"], "action": "SCMP_ACT_TRAP"},
            {"names": ["getuid"], "action": "SCMP_ACT_KILL"},
            {"names": ["getgid"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["no_such_syscall", "arm_fadvise64_64"], "action": "SCMP_ACT_KILL"},
            {"names": ["fchmod"], "action": "SCMP_ACT_ERRNO", "comment": "cap-gated",
             "excludes": {"caps": ["CAP_FOWNER"]}},
            {"names": ["fchown"], "action": "SCMP_ACT_ERRNO",
             "includes": {"minKernel": "99.0"}},
            {"names": ["fchownat"], "action": "SCMP_ACT_ERRNO",
             "includes": {"minKernel": "3.0", "arches": ["amd64", "arm64"]}},
            {"names": ["umask"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 18, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": 2}]},
            {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 255, "op": "SCMP_CMP_MASKED_EQ",
                       "valueTwo": 4294967297}]},
            {"names": ["dup"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_LT"},
                      {"index": 0, "value": 100, "op": "SCMP_CMP_GT"}]},
            {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_GE"},
                      {"index": 1, "value": 20, "op": "SCMP_CMP_LE"}]},
            {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22, "args": null},
            {"names": ["dup3"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 2, "value": 0, "op": "SCMP_CMP_NE"}]},
            {"names": ["dup3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0}
        ]
    }"#;

    #[test]
    fn custom_profile() {
        let profile = Profile::from_json(CUSTOM).unwrap();
        let p = profile.compile(&["CAP_FOWNER"]).unwrap();
        check_shape(&p.insns);
        println!("{}", p.describe());
        let errno = |e: u32| 0x0005_0000 | e;
        for (name, args, want) in [
            ("read", [0; 6], ALLOW),
            ("mkdirat", [0; 6], errno(13)),
            ("kill", [1, 9, 0, 0, 0, 0], EPERM),
            ("kill", [1, 15, 0, 0, 0, 0], ALLOW),
            ("kill", [1, 9 | 1 << 32, 0, 0, 0, 0], ALLOW),
            ("getpid", [0; 6], 0x7ff0_0007),
            ("gettid", [0; 6], 0x7ffc_0000),
            ("getppid", [0; 6], 0x0003_0000),
            ("getuid", [0; 6], 0),
            ("getgid", [0; 6], 0x8000_0000),
            ("fchmod", [0; 6], ALLOW),
            ("fchown", [0; 6], ALLOW),
            ("fchownat", [0; 6], EPERM),
            // (mode & 0o22) == 0o2
            ("umask", [0o22, 0, 0, 0, 0, 0], ALLOW),
            ("umask", [0o20, 0, 0, 0, 0, 0], ALLOW),
            ("umask", [0o2, 0, 0, 0, 0, 0], EPERM),
            ("umask", [0o7, 0, 0, 0, 0, 0], EPERM),
            ("umask", [0o77, 0, 0, 0, 0, 0], ALLOW),
            ("umask", [1 << 32 | 0o2, 0, 0, 0, 0, 0], EPERM),
            // The wanted value has bits outside the mask: never matches.
            ("getpgid", [1, 0, 0, 0, 0, 0], ALLOW),
            ("getpgid", [1 << 32 | 1, 0, 0, 0, 0, 0], ALLOW),
            // Two checks on one argument are alternatives (runc).
            ("dup", [5, 0, 0, 0, 0, 0], EPERM),
            ("dup", [50, 0, 0, 0, 0, 0], ALLOW),
            ("dup", [500, 0, 0, 0, 0, 0], EPERM),
            // Checks on different arguments all have to hold; else the unconditional entry.
            ("getpriority", [10, 20, 0, 0, 0, 0], EPERM),
            ("getpriority", [10, 21, 0, 0, 0, 0], errno(22)),
            ("getpriority", [9, 20, 0, 0, 0, 0], errno(22)),
            ("dup3", [0, 0, 1, 0, 0, 0], ALLOW),
            ("dup3", [0, 0, 0, 0, 0, 0], errno(0)),
        ] {
            assert_eq!(decide(&p, name, args), want, "{name}({args:x?})");
        }
        // Without CAP_FOWNER the fchmod entry applies.
        let p = profile.compile(&[]).unwrap();
        assert_eq!(decide(&p, "fchmod", [0; 6]), EPERM);
        for at in [0, 1, 2] {
            compare_with_reference(&profile, &["CAP_FOWNER"], at);
        }
    }

    /// A conditional rule for every syscall of the table, with `matched` as the action: enough
    /// code to push targets beyond a jump field's 255, so return copies and `ja` trampolines
    /// get used.
    fn many_conditions(default: &str, matched: &str) -> Profile {
        let ops = [
            "SCMP_CMP_EQ",
            "SCMP_CMP_GT",
            "SCMP_CMP_LE",
            "SCMP_CMP_MASKED_EQ",
        ];
        let mut syscalls = Vec::new();
        for (i, &(name, _)) in native::SYSCALLS.iter().enumerate() {
            let value = PROBES[i % PROBES.len()];
            let args: Vec<Arg> = (0..(i % 3 + 1))
                .map(|j| Arg {
                    index: j as u32,
                    value,
                    value_two: value & 0x8,
                    op: ops[(i + j) % ops.len()].to_string(),
                })
                .collect();
            let action = if i % 2 == 0 { matched } else { "SCMP_ACT_LOG" };
            syscalls.push(SyscallRule {
                names: vec![name.to_string()],
                action: action.to_string(),
                errno_ret: Some(libc::EXDEV as u32),
                args,
                ..SyscallRule::default()
            });
        }
        Profile {
            default_action: default.to_string(),
            syscalls,
            ..Profile::default()
        }
    }

    #[test]
    fn long_jumps() {
        let profile = many_conditions("SCMP_ACT_ERRNO", "SCMP_ACT_ALLOW");
        let p = profile.compile(&[]).unwrap();
        assert!(p.insns.iter().any(|i| i.code == BPF_JA), "no trampoline");
        println!("long-jump profile: {} instructions", p.len());
        compare_with_reference(&profile, &[], 0);
        compare_with_reference(&profile, &[], 1);
        let profile = many_conditions("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO");
        compare_with_reference(&profile, &[], 0);
    }

    #[test]
    fn too_long_is_an_error() {
        let syscalls = native::SYSCALLS
            .iter()
            .map(|&(name, _)| SyscallRule {
                names: vec![name.to_string()],
                action: "SCMP_ACT_ALLOW".to_string(),
                args: (0..6)
                    .map(|index| Arg {
                        index,
                        value: 1,
                        value_two: 0,
                        op: "SCMP_CMP_GT".to_string(),
                    })
                    .collect(),
                ..SyscallRule::default()
            })
            .collect();
        let profile = Profile {
            default_action: "SCMP_ACT_ERRNO".to_string(),
            syscalls,
            ..Profile::default()
        };
        let err = profile.compile(&[]).unwrap_err();
        assert_eq!(err.kind(), Kind::InvalidArgument);
        assert!(
            err.message().contains("the kernel allows 4096"),
            "{}",
            err.message()
        );
    }

    fn bad(json: &str) -> Error {
        match Profile::from_json(json) {
            Ok(_) => panic!("accepted {json}"),
            Err(e) => e,
        }
    }

    #[test]
    fn bad_profiles() {
        let e = bad(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]}"#);
        assert_eq!(e.kind(), Kind::InvalidArgument);
        assert!(
            e.message().starts_with(
                "seccomp profile: syscall entry 1 (personality): unknown op \"SCMP_CMP_FOO\"; \
                 known: SCMP_CMP_NE"
            ),
            "{}",
            e.message()
        );
        let e = bad(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_FOO"}]}"#);
        assert!(
            e.message().starts_with(
                "seccomp profile: syscall entry 0 (read and 1 more): unknown action \
                 \"SCMP_ACT_FOO\"; known: SCMP_ACT_ALLOW"
            ),
            "{}",
            e.message()
        );
        let e = bad(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"name": "socket", "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#);
        assert!(
            e.message()
                .ends_with("syscall entry 0 (socket): argument index 6 out of range (0-5)"),
            "{}",
            e.message()
        );
        let e = bad(r#"{"defaultAction": "SCMP_ACT_NOPE"}"#);
        assert!(e
            .message()
            .contains("defaultAction: unknown action \"SCMP_ACT_NOPE\""));
        let e = bad(r#"{"syscalls": []}"#);
        assert_eq!(e.message(), "seccomp profile: missing defaultAction");
        let e = bad(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}"#);
        assert!(
            e.message().contains("both name and names"),
            "{}",
            e.message()
        );
        let e = bad(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}"#);
        assert!(
            e.message().contains("errnoRet 70000 out of range"),
            "{}",
            e.message()
        );
        let e = bad(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4"}}]}"#);
        assert!(
            e.message().contains("invalid minKernel \"4\""),
            "{}",
            e.message()
        );
        let e = bad(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": null}]}"#,
        );
        assert!(
            e.message().contains("both architectures and archMap"),
            "{}",
            e.message()
        );
        let e = bad(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}"#);
        assert_eq!(e.kind(), Kind::Unsupported);
        // Not JSON, wrong types.
        let e = bad(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [ {"names": "#);
        assert_eq!(e.kind(), Kind::InvalidArgument);
        assert!(
            e.message().starts_with("seccomp profile: "),
            "{}",
            e.message()
        );
        let e = bad(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}"#);
        assert_eq!(e.kind(), Kind::InvalidArgument);
    }

    #[test]
    fn syscall_table() {
        assert!(
            native::SYSCALLS.windows(2).all(|w| w[0].0 < w[1].0),
            "not sorted by name"
        );
        let mut numbers: Vec<u32> = native::SYSCALLS.iter().map(|s| s.1).collect();
        numbers.sort_unstable();
        assert!(numbers.windows(2).all(|w| w[0] != w[1]), "a number twice");
        for (name, n) in [
            ("read", libc::SYS_read),
            ("openat", libc::SYS_openat),
            ("clone", libc::SYS_clone),
            ("clone3", libc::SYS_clone3),
            ("personality", libc::SYS_personality),
            ("socket", libc::SYS_socket),
            ("ptrace", libc::SYS_ptrace),
            ("perf_event_open", libc::SYS_perf_event_open),
            ("io_uring_setup", libc::SYS_io_uring_setup),
            ("futex_waitv", libc::SYS_futex_waitv),
            ("set_mempolicy_home_node", libc::SYS_set_mempolicy_home_node),
            ("mseal", libc::SYS_mseal),
        ] {
            assert_eq!(syscall_number(name), Some(n as u32), "{name}");
            assert_eq!(syscall_name(n as u32), Some(name));
        }
        assert_eq!(syscall_number("no_such_syscall"), None);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn syscall_table_matches_libc() {
        // Every x86_64 SYS_* constant libc 0.2 has.
        #[rustfmt::skip]
        let libc_table: &[(&str, libc::c_long)] = &[
            ("read", libc::SYS_read), ("write", libc::SYS_write), ("open", libc::SYS_open),
            ("close", libc::SYS_close), ("stat", libc::SYS_stat), ("fstat", libc::SYS_fstat),
            ("lstat", libc::SYS_lstat), ("poll", libc::SYS_poll), ("lseek", libc::SYS_lseek),
            ("mmap", libc::SYS_mmap), ("mprotect", libc::SYS_mprotect),
            ("munmap", libc::SYS_munmap), ("brk", libc::SYS_brk),
            ("rt_sigaction", libc::SYS_rt_sigaction), ("rt_sigprocmask", libc::SYS_rt_sigprocmask),
            ("rt_sigreturn", libc::SYS_rt_sigreturn), ("ioctl", libc::SYS_ioctl),
            ("pread64", libc::SYS_pread64), ("pwrite64", libc::SYS_pwrite64),
            ("readv", libc::SYS_readv), ("writev", libc::SYS_writev), ("access", libc::SYS_access),
            ("pipe", libc::SYS_pipe), ("select", libc::SYS_select),
            ("sched_yield", libc::SYS_sched_yield), ("mremap", libc::SYS_mremap),
            ("msync", libc::SYS_msync), ("mincore", libc::SYS_mincore),
            ("madvise", libc::SYS_madvise), ("shmget", libc::SYS_shmget),
            ("shmat", libc::SYS_shmat), ("shmctl", libc::SYS_shmctl), ("dup", libc::SYS_dup),
            ("dup2", libc::SYS_dup2), ("pause", libc::SYS_pause),
            ("nanosleep", libc::SYS_nanosleep), ("getitimer", libc::SYS_getitimer),
            ("alarm", libc::SYS_alarm), ("setitimer", libc::SYS_setitimer),
            ("getpid", libc::SYS_getpid), ("sendfile", libc::SYS_sendfile),
            ("socket", libc::SYS_socket), ("connect", libc::SYS_connect),
            ("accept", libc::SYS_accept), ("sendto", libc::SYS_sendto),
            ("recvfrom", libc::SYS_recvfrom), ("sendmsg", libc::SYS_sendmsg),
            ("recvmsg", libc::SYS_recvmsg), ("shutdown", libc::SYS_shutdown),
            ("bind", libc::SYS_bind), ("listen", libc::SYS_listen),
            ("getsockname", libc::SYS_getsockname), ("getpeername", libc::SYS_getpeername),
            ("socketpair", libc::SYS_socketpair), ("setsockopt", libc::SYS_setsockopt),
            ("getsockopt", libc::SYS_getsockopt), ("clone", libc::SYS_clone),
            ("fork", libc::SYS_fork), ("vfork", libc::SYS_vfork), ("execve", libc::SYS_execve),
            ("exit", libc::SYS_exit), ("wait4", libc::SYS_wait4), ("kill", libc::SYS_kill),
            ("uname", libc::SYS_uname), ("semget", libc::SYS_semget), ("semop", libc::SYS_semop),
            ("semctl", libc::SYS_semctl), ("shmdt", libc::SYS_shmdt), ("msgget", libc::SYS_msgget),
            ("msgsnd", libc::SYS_msgsnd), ("msgrcv", libc::SYS_msgrcv),
            ("msgctl", libc::SYS_msgctl), ("fcntl", libc::SYS_fcntl), ("flock", libc::SYS_flock),
            ("fsync", libc::SYS_fsync), ("fdatasync", libc::SYS_fdatasync),
            ("truncate", libc::SYS_truncate), ("ftruncate", libc::SYS_ftruncate),
            ("getdents", libc::SYS_getdents), ("getcwd", libc::SYS_getcwd),
            ("chdir", libc::SYS_chdir), ("fchdir", libc::SYS_fchdir), ("rename", libc::SYS_rename),
            ("mkdir", libc::SYS_mkdir), ("rmdir", libc::SYS_rmdir), ("creat", libc::SYS_creat),
            ("link", libc::SYS_link), ("unlink", libc::SYS_unlink), ("symlink", libc::SYS_symlink),
            ("readlink", libc::SYS_readlink), ("chmod", libc::SYS_chmod),
            ("fchmod", libc::SYS_fchmod), ("chown", libc::SYS_chown), ("fchown", libc::SYS_fchown),
            ("lchown", libc::SYS_lchown), ("umask", libc::SYS_umask),
            ("gettimeofday", libc::SYS_gettimeofday), ("getrlimit", libc::SYS_getrlimit),
            ("getrusage", libc::SYS_getrusage), ("sysinfo", libc::SYS_sysinfo),
            ("times", libc::SYS_times), ("ptrace", libc::SYS_ptrace), ("getuid", libc::SYS_getuid),
            ("syslog", libc::SYS_syslog), ("getgid", libc::SYS_getgid),
            ("setuid", libc::SYS_setuid), ("setgid", libc::SYS_setgid),
            ("geteuid", libc::SYS_geteuid), ("getegid", libc::SYS_getegid),
            ("setpgid", libc::SYS_setpgid), ("getppid", libc::SYS_getppid),
            ("getpgrp", libc::SYS_getpgrp), ("setsid", libc::SYS_setsid),
            ("setreuid", libc::SYS_setreuid), ("setregid", libc::SYS_setregid),
            ("getgroups", libc::SYS_getgroups), ("setgroups", libc::SYS_setgroups),
            ("setresuid", libc::SYS_setresuid), ("getresuid", libc::SYS_getresuid),
            ("setresgid", libc::SYS_setresgid), ("getresgid", libc::SYS_getresgid),
            ("getpgid", libc::SYS_getpgid), ("setfsuid", libc::SYS_setfsuid),
            ("setfsgid", libc::SYS_setfsgid), ("getsid", libc::SYS_getsid),
            ("capget", libc::SYS_capget), ("capset", libc::SYS_capset),
            ("rt_sigpending", libc::SYS_rt_sigpending),
            ("rt_sigtimedwait", libc::SYS_rt_sigtimedwait),
            ("rt_sigqueueinfo", libc::SYS_rt_sigqueueinfo),
            ("rt_sigsuspend", libc::SYS_rt_sigsuspend), ("sigaltstack", libc::SYS_sigaltstack),
            ("utime", libc::SYS_utime), ("mknod", libc::SYS_mknod), ("uselib", libc::SYS_uselib),
            ("personality", libc::SYS_personality), ("ustat", libc::SYS_ustat),
            ("statfs", libc::SYS_statfs), ("fstatfs", libc::SYS_fstatfs),
            ("sysfs", libc::SYS_sysfs), ("getpriority", libc::SYS_getpriority),
            ("setpriority", libc::SYS_setpriority), ("sched_setparam", libc::SYS_sched_setparam),
            ("sched_getparam", libc::SYS_sched_getparam),
            ("sched_setscheduler", libc::SYS_sched_setscheduler),
            ("sched_getscheduler", libc::SYS_sched_getscheduler),
            ("sched_get_priority_max", libc::SYS_sched_get_priority_max),
            ("sched_get_priority_min", libc::SYS_sched_get_priority_min),
            ("sched_rr_get_interval", libc::SYS_sched_rr_get_interval), ("mlock", libc::SYS_mlock),
            ("munlock", libc::SYS_munlock), ("mlockall", libc::SYS_mlockall),
            ("munlockall", libc::SYS_munlockall), ("vhangup", libc::SYS_vhangup),
            ("modify_ldt", libc::SYS_modify_ldt), ("pivot_root", libc::SYS_pivot_root),
            ("_sysctl", libc::SYS__sysctl), ("prctl", libc::SYS_prctl),
            ("arch_prctl", libc::SYS_arch_prctl), ("adjtimex", libc::SYS_adjtimex),
            ("setrlimit", libc::SYS_setrlimit), ("chroot", libc::SYS_chroot),
            ("sync", libc::SYS_sync), ("acct", libc::SYS_acct),
            ("settimeofday", libc::SYS_settimeofday), ("mount", libc::SYS_mount),
            ("umount2", libc::SYS_umount2), ("swapon", libc::SYS_swapon),
            ("swapoff", libc::SYS_swapoff), ("reboot", libc::SYS_reboot),
            ("sethostname", libc::SYS_sethostname), ("setdomainname", libc::SYS_setdomainname),
            ("iopl", libc::SYS_iopl), ("ioperm", libc::SYS_ioperm),
            ("init_module", libc::SYS_init_module), ("delete_module", libc::SYS_delete_module),
            ("quotactl", libc::SYS_quotactl), ("nfsservctl", libc::SYS_nfsservctl),
            ("getpmsg", libc::SYS_getpmsg), ("putpmsg", libc::SYS_putpmsg),
            ("afs_syscall", libc::SYS_afs_syscall), ("tuxcall", libc::SYS_tuxcall),
            ("security", libc::SYS_security), ("gettid", libc::SYS_gettid),
            ("readahead", libc::SYS_readahead), ("setxattr", libc::SYS_setxattr),
            ("lsetxattr", libc::SYS_lsetxattr), ("fsetxattr", libc::SYS_fsetxattr),
            ("getxattr", libc::SYS_getxattr), ("lgetxattr", libc::SYS_lgetxattr),
            ("fgetxattr", libc::SYS_fgetxattr), ("listxattr", libc::SYS_listxattr),
            ("llistxattr", libc::SYS_llistxattr), ("flistxattr", libc::SYS_flistxattr),
            ("removexattr", libc::SYS_removexattr), ("lremovexattr", libc::SYS_lremovexattr),
            ("fremovexattr", libc::SYS_fremovexattr), ("tkill", libc::SYS_tkill),
            ("time", libc::SYS_time), ("futex", libc::SYS_futex),
            ("sched_setaffinity", libc::SYS_sched_setaffinity),
            ("sched_getaffinity", libc::SYS_sched_getaffinity),
            ("set_thread_area", libc::SYS_set_thread_area), ("io_setup", libc::SYS_io_setup),
            ("io_destroy", libc::SYS_io_destroy), ("io_getevents", libc::SYS_io_getevents),
            ("io_submit", libc::SYS_io_submit), ("io_cancel", libc::SYS_io_cancel),
            ("get_thread_area", libc::SYS_get_thread_area),
            ("lookup_dcookie", libc::SYS_lookup_dcookie), ("epoll_create", libc::SYS_epoll_create),
            ("epoll_ctl_old", libc::SYS_epoll_ctl_old),
            ("epoll_wait_old", libc::SYS_epoll_wait_old),
            ("remap_file_pages", libc::SYS_remap_file_pages), ("getdents64", libc::SYS_getdents64),
            ("set_tid_address", libc::SYS_set_tid_address),
            ("restart_syscall", libc::SYS_restart_syscall), ("semtimedop", libc::SYS_semtimedop),
            ("fadvise64", libc::SYS_fadvise64), ("timer_create", libc::SYS_timer_create),
            ("timer_settime", libc::SYS_timer_settime), ("timer_gettime", libc::SYS_timer_gettime),
            ("timer_getoverrun", libc::SYS_timer_getoverrun),
            ("timer_delete", libc::SYS_timer_delete), ("clock_settime", libc::SYS_clock_settime),
            ("clock_gettime", libc::SYS_clock_gettime), ("clock_getres", libc::SYS_clock_getres),
            ("clock_nanosleep", libc::SYS_clock_nanosleep), ("exit_group", libc::SYS_exit_group),
            ("epoll_wait", libc::SYS_epoll_wait), ("epoll_ctl", libc::SYS_epoll_ctl),
            ("tgkill", libc::SYS_tgkill), ("utimes", libc::SYS_utimes),
            ("vserver", libc::SYS_vserver), ("mbind", libc::SYS_mbind),
            ("set_mempolicy", libc::SYS_set_mempolicy), ("get_mempolicy", libc::SYS_get_mempolicy),
            ("mq_open", libc::SYS_mq_open), ("mq_unlink", libc::SYS_mq_unlink),
            ("mq_timedsend", libc::SYS_mq_timedsend),
            ("mq_timedreceive", libc::SYS_mq_timedreceive), ("mq_notify", libc::SYS_mq_notify),
            ("mq_getsetattr", libc::SYS_mq_getsetattr), ("kexec_load", libc::SYS_kexec_load),
            ("waitid", libc::SYS_waitid), ("add_key", libc::SYS_add_key),
            ("request_key", libc::SYS_request_key), ("keyctl", libc::SYS_keyctl),
            ("ioprio_set", libc::SYS_ioprio_set), ("ioprio_get", libc::SYS_ioprio_get),
            ("inotify_init", libc::SYS_inotify_init),
            ("inotify_add_watch", libc::SYS_inotify_add_watch),
            ("inotify_rm_watch", libc::SYS_inotify_rm_watch),
            ("migrate_pages", libc::SYS_migrate_pages), ("openat", libc::SYS_openat),
            ("mkdirat", libc::SYS_mkdirat), ("mknodat", libc::SYS_mknodat),
            ("fchownat", libc::SYS_fchownat), ("futimesat", libc::SYS_futimesat),
            ("newfstatat", libc::SYS_newfstatat), ("unlinkat", libc::SYS_unlinkat),
            ("renameat", libc::SYS_renameat), ("linkat", libc::SYS_linkat),
            ("symlinkat", libc::SYS_symlinkat), ("readlinkat", libc::SYS_readlinkat),
            ("fchmodat", libc::SYS_fchmodat), ("faccessat", libc::SYS_faccessat),
            ("pselect6", libc::SYS_pselect6), ("ppoll", libc::SYS_ppoll),
            ("unshare", libc::SYS_unshare), ("set_robust_list", libc::SYS_set_robust_list),
            ("get_robust_list", libc::SYS_get_robust_list), ("splice", libc::SYS_splice),
            ("tee", libc::SYS_tee), ("sync_file_range", libc::SYS_sync_file_range),
            ("vmsplice", libc::SYS_vmsplice), ("move_pages", libc::SYS_move_pages),
            ("utimensat", libc::SYS_utimensat), ("epoll_pwait", libc::SYS_epoll_pwait),
            ("signalfd", libc::SYS_signalfd), ("timerfd_create", libc::SYS_timerfd_create),
            ("eventfd", libc::SYS_eventfd), ("fallocate", libc::SYS_fallocate),
            ("timerfd_settime", libc::SYS_timerfd_settime),
            ("timerfd_gettime", libc::SYS_timerfd_gettime), ("accept4", libc::SYS_accept4),
            ("signalfd4", libc::SYS_signalfd4), ("eventfd2", libc::SYS_eventfd2),
            ("epoll_create1", libc::SYS_epoll_create1), ("dup3", libc::SYS_dup3),
            ("pipe2", libc::SYS_pipe2), ("inotify_init1", libc::SYS_inotify_init1),
            ("preadv", libc::SYS_preadv), ("pwritev", libc::SYS_pwritev),
            ("rt_tgsigqueueinfo", libc::SYS_rt_tgsigqueueinfo),
            ("perf_event_open", libc::SYS_perf_event_open), ("recvmmsg", libc::SYS_recvmmsg),
            ("fanotify_init", libc::SYS_fanotify_init), ("fanotify_mark", libc::SYS_fanotify_mark),
            ("prlimit64", libc::SYS_prlimit64), ("name_to_handle_at", libc::SYS_name_to_handle_at),
            ("open_by_handle_at", libc::SYS_open_by_handle_at),
            ("clock_adjtime", libc::SYS_clock_adjtime), ("syncfs", libc::SYS_syncfs),
            ("sendmmsg", libc::SYS_sendmmsg), ("setns", libc::SYS_setns),
            ("getcpu", libc::SYS_getcpu), ("process_vm_readv", libc::SYS_process_vm_readv),
            ("process_vm_writev", libc::SYS_process_vm_writev), ("kcmp", libc::SYS_kcmp),
            ("finit_module", libc::SYS_finit_module), ("sched_setattr", libc::SYS_sched_setattr),
            ("sched_getattr", libc::SYS_sched_getattr), ("renameat2", libc::SYS_renameat2),
            ("seccomp", libc::SYS_seccomp), ("getrandom", libc::SYS_getrandom),
            ("memfd_create", libc::SYS_memfd_create),
            ("kexec_file_load", libc::SYS_kexec_file_load), ("bpf", libc::SYS_bpf),
            ("execveat", libc::SYS_execveat), ("userfaultfd", libc::SYS_userfaultfd),
            ("membarrier", libc::SYS_membarrier), ("mlock2", libc::SYS_mlock2),
            ("copy_file_range", libc::SYS_copy_file_range), ("preadv2", libc::SYS_preadv2),
            ("pwritev2", libc::SYS_pwritev2), ("pkey_mprotect", libc::SYS_pkey_mprotect),
            ("pkey_alloc", libc::SYS_pkey_alloc), ("pkey_free", libc::SYS_pkey_free),
            ("statx", libc::SYS_statx), ("rseq", libc::SYS_rseq),
            ("pidfd_send_signal", libc::SYS_pidfd_send_signal),
            ("io_uring_setup", libc::SYS_io_uring_setup),
            ("io_uring_enter", libc::SYS_io_uring_enter),
            ("io_uring_register", libc::SYS_io_uring_register), ("open_tree", libc::SYS_open_tree),
            ("move_mount", libc::SYS_move_mount), ("fsopen", libc::SYS_fsopen),
            ("fsconfig", libc::SYS_fsconfig), ("fsmount", libc::SYS_fsmount),
            ("fspick", libc::SYS_fspick), ("pidfd_open", libc::SYS_pidfd_open),
            ("clone3", libc::SYS_clone3), ("close_range", libc::SYS_close_range),
            ("openat2", libc::SYS_openat2), ("pidfd_getfd", libc::SYS_pidfd_getfd),
            ("faccessat2", libc::SYS_faccessat2), ("process_madvise", libc::SYS_process_madvise),
            ("epoll_pwait2", libc::SYS_epoll_pwait2), ("mount_setattr", libc::SYS_mount_setattr),
            ("quotactl_fd", libc::SYS_quotactl_fd),
            ("landlock_create_ruleset", libc::SYS_landlock_create_ruleset),
            ("landlock_add_rule", libc::SYS_landlock_add_rule),
            ("landlock_restrict_self", libc::SYS_landlock_restrict_self),
            ("memfd_secret", libc::SYS_memfd_secret),
            ("process_mrelease", libc::SYS_process_mrelease),
            ("futex_waitv", libc::SYS_futex_waitv),
            ("set_mempolicy_home_node", libc::SYS_set_mempolicy_home_node),
            ("fchmodat2", libc::SYS_fchmodat2), ("mseal", libc::SYS_mseal),
        ];
        for &(name, n) in libc_table {
            assert_eq!(syscall_number(name), Some(n as u32), "{name}");
        }
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(parse_kernel_version("4.8", true), Some((4, 8)));
        assert_eq!(parse_kernel_version("4.8.1", true), None);
        assert_eq!(parse_kernel_version("0.0", true), None);
        assert_eq!(parse_kernel_version("x.1", true), None);
        assert_eq!(parse_kernel_version("6.1.0-18-amd64", false), Some((6, 1)));
        assert_eq!(parse_kernel_version("5.15-rc5", false), Some((5, 15)));
        assert_eq!(
            parse_kernel_version("6.18.44-fc-v657", false),
            Some((6, 18))
        );
        assert!(kernel_version().unwrap() >= (4, 8));
    }

    #[test]
    fn describe_line() {
        let p = Profile::docker_default().compile(DOCKER_CAPS).unwrap();
        let line = p.describe();
        assert!(line.starts_with("seccomp: "), "{line}");
        assert!(line.contains("syscalls allowed"), "{line}");
        assert!(line.contains(", default errno EPERM, "), "{line}");
        assert!(
            line.ends_with(&format!("{} BPF instructions", p.len())),
            "{line}"
        );
    }

    /// Runs `check` in a forked child and returns its exit code.
    fn in_child(check: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the checks only make system calls before the child leaves with _exit;
        // install() allocates only on its error path.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = check();
            // SAFETY: leaving the forked child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waiting for the child we forked.
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(waited, pid);
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        libc::WEXITSTATUS(status)
    }

    /// Installs the default filter in a child and checks what the kernel does with it.
    #[test]
    fn install_in_child() {
        let p = Profile::docker_default().compile(DOCKER_CAPS).unwrap();
        let code = in_child(|| {
            // SAFETY: plain system calls with integer arguments.
            unsafe {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return 10;
                }
                if p.install().is_err() {
                    return 11;
                }
                let errno = || *libc::__errno_location();
                if libc::getpid() <= 0 {
                    return 12;
                }
                if libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0) != -1 || errno() != libc::EPERM {
                    return 13;
                }
                if libc::syscall(libc::SYS_personality, 0x1234) != -1 || errno() != libc::EPERM {
                    return 14;
                }
                if libc::syscall(libc::SYS_personality, 0xffff_ffffu64) == -1 {
                    return 15;
                }
                if libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER) != -1
                    || errno() != libc::EPERM
                {
                    return 16;
                }
                if libc::syscall(libc::SYS_clone3, 0, 0) != -1 || errno() != libc::ENOSYS {
                    return 17;
                }
                if libc::socket(40, libc::SOCK_STREAM, 0) != -1 || errno() != libc::EPERM {
                    return 18;
                }
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                if fd < 0 {
                    return 19;
                }
                libc::close(fd);
                if libc::syscall(1000) != -1 || errno() != libc::EPERM {
                    return 20;
                }
            }
            0
        });
        assert_eq!(code, 0, "check {code} failed in the child");
    }

    /// The kernel accepts a long program with trampolines and runs it as our interpreter does.
    #[test]
    fn install_long_program_in_child() {
        let profile = many_conditions("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO");
        let p = profile.compile(&[]).unwrap();
        assert!(p.len() > 1000 && p.insns.iter().any(|i| i.code == BPF_JA));
        // Syscalls harmless to make with these arguments, with what the filter should say.
        let probes: Vec<(u32, [u64; 6], u32)> = ["getpid", "getppid", "getuid", "umask", "dup"]
            .iter()
            .flat_map(|name| PROBES.iter().map(move |&v| (nr(name), [v, 0, 0, 0, 0, 0])))
            .map(|(n, args)| (n, args, run(&p.insns, native::AUDIT_ARCH, n, args)))
            .collect();
        assert!(
            probes.iter().any(|&(_, _, r)| r != ALLOW),
            "nothing refused"
        );
        let code = in_child(|| {
            // SAFETY: plain system calls with integer arguments.
            unsafe {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return 10;
                }
                if p.install().is_err() {
                    return 11;
                }
                for &(n, a, want) in &probes {
                    let n = libc::c_long::from(n);
                    let rc = libc::syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]);
                    let refused = rc == -1 && *libc::__errno_location() == libc::EXDEV;
                    if refused != (want == 0x0005_0000 | libc::EXDEV as u32) {
                        return 12;
                    }
                    if rc >= 0 && n == libc::SYS_dup {
                        libc::close(rc as i32);
                    }
                }
            }
            0
        });
        assert_eq!(code, 0, "check {code} failed in the child");
    }

    /// Compares `docker_default()` with moby's JSON file, when one is given:
    /// GOCKER_MOBY_SECCOMP_JSON=/path/to/default.json cargo test -- --ignored
    #[test]
    #[ignore = "needs moby's default.json in GOCKER_MOBY_SECCOMP_JSON"]
    fn docker_default_matches_moby_json() {
        let path = std::env::var("GOCKER_MOBY_SECCOMP_JSON").unwrap();
        let moby = Profile::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
        let ours = Profile::docker_default();
        let admin: Vec<&str> = DOCKER_CAPS
            .iter()
            .copied()
            .chain(["CAP_SYS_ADMIN"])
            .collect();
        let all = [
            "CAP_SYS_ADMIN",
            "CAP_SYS_BOOT",
            "CAP_SYS_CHROOT",
            "CAP_SYS_MODULE",
            "CAP_SYS_PACCT",
            "CAP_SYS_PTRACE",
            "CAP_SYS_RAWIO",
            "CAP_SYS_TIME",
            "CAP_SYS_TTY_CONFIG",
            "CAP_SYSLOG",
            "CAP_SYS_NICE",
            "CAP_BPF",
            "CAP_PERFMON",
            "CAP_DAC_READ_SEARCH",
        ];
        for caps in [DOCKER_CAPS, &admin[..], &all[..], &[][..]] {
            let a = moby.compile(caps).unwrap();
            let b = ours.compile(caps).unwrap();
            assert_eq!(a.insns, b.insns, "caps {caps:?}");
        }
    }
}
