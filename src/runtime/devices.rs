//! Device nodes: which ones a container may create (mknod) and open.
//!
//! Device files are the host's hardware, and neither mount namespaces nor overlays stand in
//! front of them: a container that can open a block device such as /dev/vda, or mknod a node
//! with its numbers in its own writable layer, reads and writes the host's disk underneath every
//! file permission; /dev/mem, /dev/kmsg and /dev/kvm are the same story for memory, the kernel
//! log and the hypervisor. So the kernel checks every open and mknod of a device node by a
//! container's process against a rule list kept in the container's cgroup:
//!
//! - cgroup v1 has the `devices` controller: each rule is one line written to `devices.allow` or
//!   `devices.deny` ([`write_v1`]).
//! - cgroup v2 has no devices controller. Instead an eBPF program of type
//!   `BPF_PROG_TYPE_CGROUP_DEVICE`, attached to the cgroup directory, is asked about each access
//!   and answers 1 (allow) or 0 (deny) ([`program`], [`attach`]). The program is assembled here,
//!   a few instructions per rule, as runc and crun do.
//!
//! One list has one meaning on both: the v1 controller's, which Docker's `--device-cgroup-rule`
//! and the OCI spec inherit. [`allowed`] is that meaning written out in plain Rust, the
//! reference; the eBPF program is compiled from the same evaluated state, and the tests run it
//! in a small interpreter against [`allowed`] over many devices and rule lists.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Kind, Result};

/// The largest major number Linux has: a `dev_t` is 12 bits of major, 20 of minor.
pub const MAX_MAJOR: u32 = (1 << 12) - 1;
/// The largest minor number Linux has.
pub const MAX_MINOR: u32 = (1 << 20) - 1;

// Access bits, as the kernel passes them to a device program (BPF_DEVCG_ACC_*).
const ACC_MKNOD: u32 = 1;
const ACC_READ: u32 = 2;
const ACC_WRITE: u32 = 4;
const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

// Device types (BPF_DEVCG_DEV_*).
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

const EXAMPLE: &str = "e.g. \"c 1:3 rwm\"";

/// Which device nodes a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// Every device, char and block (`a`): the rule resets the whole list.
    All,
    /// Character devices (`c`).
    Char,
    /// Block devices (`b`).
    Block,
}

impl DeviceKind {
    fn letter(self) -> char {
        match self {
            DeviceKind::All => 'a',
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
        }
    }
}

/// One device rule: allow or deny some access to some device nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: DeviceKind,
    /// `None` is any major (`*`).
    pub major: Option<u32>,
    /// `None` is any minor (`*`).
    pub minor: Option<u32>,
    /// A subset of "rwm": read, write, mknod.
    pub access: String,
}

impl DeviceRule {
    /// Every device with every access: `allow` true is `--privileged`, false is the "deny
    /// everything" that starts an allow-list.
    pub fn all(allow: bool) -> DeviceRule {
        DeviceRule {
            allow,
            kind: DeviceKind::All,
            major: None,
            minor: None,
            access: "rwm".to_string(),
        }
    }

    /// Parses a rule as Docker's `--device-cgroup-rule` and the v1 `devices.allow` file take
    /// it: "c 1:3 rwm", "b 8:* r", "a *:* rwm" (or just "a"). The rule allows; for a deny rule
    /// set `allow` to false. Access is stored in the order "rwm".
    pub fn parse(text: &str) -> Result<DeviceRule> {
        let bad = |why: &str| Error::invalid(format!("invalid device rule {text:?}: {why}"));
        let fields: Vec<&str> = text.split_whitespace().collect();
        let kind = match fields.first().copied() {
            Some("a") => DeviceKind::All,
            Some("b") => DeviceKind::Block,
            Some("c") => DeviceKind::Char,
            Some(_) => return Err(bad(&format!("type must be a, b or c; {EXAMPLE}"))),
            None => return Err(bad(&format!("it is empty; {EXAMPLE}"))),
        };
        if kind == DeviceKind::All && fields.len() == 1 {
            return Ok(DeviceRule::all(true));
        }
        if fields.len() != 3 {
            return Err(bad(&format!(
                "expected \"<type> <major>:<minor> <access>\", {EXAMPLE}"
            )));
        }
        let Some((major, minor)) = fields[1].split_once(':') else {
            return Err(bad(&format!(
                "device numbers must be <major>:<minor>, each a number or *; {EXAMPLE}"
            )));
        };
        let major = parse_number(major, "major", MAX_MAJOR).map_err(|why| bad(&why))?;
        let minor = parse_number(minor, "minor", MAX_MINOR).map_err(|why| bad(&why))?;
        let Some(bits) = access_bits(fields[2]) else {
            return Err(bad(&format!(
                "access must be one or more of r (read), w (write) and m (mknod); {EXAMPLE}"
            )));
        };
        let rule = DeviceRule {
            allow: true,
            kind,
            major,
            minor,
            access: access_string(bits),
        };
        if kind == DeviceKind::All && rule != DeviceRule::all(true) {
            return Err(bad(
                "a rule of type a is about every device and every access, so it must be \
                 \"a *:* rwm\" (or just \"a\"); for some devices use b or c, e.g. \"c 1:* r\"",
            ));
        }
        Ok(rule)
    }

    /// The rule as a line of the v1 `devices.allow` / `devices.deny` files: "c 1:3 rwm".
    pub fn v1_line(&self) -> String {
        let number = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
        format!(
            "{} {}:{} {}",
            self.kind.letter(),
            number(self.major),
            number(self.minor),
            self.access
        )
    }

    /// Checks what `parse` checks, for a rule built some other way (a struct, a JSON file).
    fn check(&self) -> Result<()> {
        let bad = |why: String| {
            let verdict = if self.allow { "allow" } else { "deny" };
            Error::invalid(format!(
                "invalid device rule \"{}\" ({verdict}): {why}",
                self.v1_line()
            ))
        };
        if access_bits(&self.access).is_none() {
            return Err(bad(format!(
                "access must be one or more of r (read), w (write) and m (mknod); {EXAMPLE}"
            )));
        }
        if let Some(major) = self.major.filter(|&n| n > MAX_MAJOR) {
            return Err(bad(format!(
                "major {major} is out of range: Linux majors go up to {MAX_MAJOR}"
            )));
        }
        if let Some(minor) = self.minor.filter(|&n| n > MAX_MINOR) {
            return Err(bad(format!(
                "minor {minor} is out of range: Linux minors go up to {MAX_MINOR}"
            )));
        }
        if self.kind == DeviceKind::All
            && (self.major.is_some()
                || self.minor.is_some()
                || access_bits(&self.access) != Some(ACC_ALL))
        {
            return Err(bad(
                "a rule of type a is about every device and every access, so it must be \
                 \"a *:* rwm\"; for some devices use b or c"
                    .to_string(),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.v1_line())
    }
}

/// "*" is `None`; anything else a decimal number up to `max`.
fn parse_number(text: &str, what: &str, max: u32) -> std::result::Result<Option<u32>, String> {
    if text == "*" {
        return Ok(None);
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} {text:?} is not a number or *; {EXAMPLE}"));
    }
    match text.parse::<u32>() {
        Ok(n) if n <= max => Ok(Some(n)),
        _ => Err(format!(
            "{what} {text} is out of range: Linux {what}s go up to {max}"
        )),
    }
}

/// The access bits of "rwm"-style text; `None` if it is empty or has another letter.
fn access_bits(text: &str) -> Option<u32> {
    if text.is_empty() {
        return None;
    }
    text.chars().try_fold(0, |bits, c| match c {
        'r' => Some(bits | ACC_READ),
        'w' => Some(bits | ACC_WRITE),
        'm' => Some(bits | ACC_MKNOD),
        _ => None,
    })
}

/// The access bits of a stored rule, ignoring letters that are not r, w or m (`validate`
/// refuses those; `allowed` and `program` must still agree on them).
fn lenient_access_bits(text: &str) -> u32 {
    text.chars()
        .map(|c| access_bits(&c.to_string()).unwrap_or(0))
        .fold(0, |a, b| a | b)
}

fn access_string(bits: u32) -> String {
    [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|&(_, c)| c)
        .collect()
}

/// The default allow-list: deny everything, then rwm on the character devices every program
/// expects (null 1:3, zero 1:5, full 1:7, random 1:8, urandom 1:9, tty 5:0, console 5:1,
/// ptmx 5:2, the pseudo-terminals 136:*). No block device, no /dev/kmsg (1:11), /dev/mem
/// (1:1), /dev/kvm (10:232) or /dev/net/tun (10:200); `--device` adds those one by one.
pub fn default_rules() -> Vec<DeviceRule> {
    let char_dev = |major: u32, minor: Option<u32>| DeviceRule {
        allow: true,
        kind: DeviceKind::Char,
        major: Some(major),
        minor,
        access: "rwm".to_string(),
    };
    vec![
        DeviceRule::all(false),
        char_dev(1, Some(3)),
        char_dev(1, Some(5)),
        char_dev(1, Some(7)),
        char_dev(1, Some(8)),
        char_dev(1, Some(9)),
        char_dev(5, Some(0)),
        char_dev(5, Some(1)),
        char_dev(5, Some(2)),
        char_dev(136, None),
    ]
}

/// A v1 exception: the kernel's `dev_exception_item`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exception {
    /// Char or Block, never All.
    kind: DeviceKind,
    major: Option<u32>,
    minor: Option<u32>,
    access: u32,
}

impl Exception {
    fn same_devices(&self, other: &Exception) -> bool {
        self.kind == other.kind && self.major == other.major && self.minor == other.minor
    }

    fn matches(&self, kind: DeviceKind, major: u32, minor: u32) -> bool {
        self.kind == kind
            && self.major.is_none_or(|m| m == major)
            && self.minor.is_none_or(|m| m == minor)
    }

    /// Whether some device and some access is in both.
    fn overlaps(&self, other: &Exception) -> bool {
        let numbers = |a: Option<u32>, b: Option<u32>| a.is_none() || b.is_none() || a == b;
        self.kind == other.kind
            && numbers(self.major, other.major)
            && numbers(self.minor, other.minor)
            && self.access & other.access != 0
    }

    fn as_rule(&self, allow: bool) -> DeviceRule {
        DeviceRule {
            allow,
            kind: self.kind,
            major: self.major,
            minor: self.minor,
            access: access_string(self.access),
        }
    }
}

/// The state of a v1 devices cgroup: a default and exceptions to it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Table {
    default_allow: bool,
    exceptions: Vec<Exception>,
}

impl Table {
    /// The state after `rules`, from "deny everything".
    fn build(rules: &[DeviceRule]) -> Table {
        let mut table = Table {
            default_allow: false,
            exceptions: Vec::new(),
        };
        for rule in rules {
            table.apply(rule);
        }
        table
    }

    /// Applies one rule as the kernel's `devcgroup_update_access` does. When the rule takes
    /// access away, returns an exception that still grants (or still refuses) part of what the
    /// rule was about: the kernel only removes the exception for exactly the same devices.
    fn apply(&mut self, rule: &DeviceRule) -> Option<Exception> {
        if rule.kind == DeviceKind::All {
            self.default_allow = rule.allow;
            self.exceptions.clear();
            return None;
        }
        let new = Exception {
            kind: rule.kind,
            major: rule.major,
            minor: rule.minor,
            access: lenient_access_bits(&rule.access),
        };
        if new.access == 0 {
            return None;
        }
        if rule.allow != self.default_allow {
            match self.exceptions.iter_mut().find(|e| e.same_devices(&new)) {
                Some(existing) => existing.access |= new.access,
                None => self.exceptions.push(new),
            }
            return None;
        }
        let survivor = self
            .exceptions
            .iter()
            .find(|e| !e.same_devices(&new) && e.overlaps(&new))
            .copied();
        if let Some(i) = self.exceptions.iter().position(|e| e.same_devices(&new)) {
            self.exceptions[i].access &= !new.access;
            if self.exceptions[i].access == 0 {
                self.exceptions.remove(i);
            }
        }
        survivor
    }

    /// `kind` is Char or Block; `access` is nonempty.
    fn allows(&self, kind: DeviceKind, major: u32, minor: u32, access: u32) -> bool {
        let mut matching = self
            .exceptions
            .iter()
            .filter(|e| e.matches(kind, major, minor));
        if self.default_allow {
            // Denied if any exception holds any of the access asked for.
            !matching.any(|e| e.access & access != 0)
        } else {
            // Allowed if one exception holds all of it.
            matching.any(|e| access & !e.access == 0)
        }
    }
}

/// Whether `rules` let a process create or open device `kind major:minor` with `access` (one
/// or more of "rwm"; empty or other letters are refused). This is the reference semantics, the
/// v1 devices controller's, and the eBPF program's:
///
/// - Evaluation starts from "deny everything": an empty list allows nothing. (A new v1 cgroup
///   starts from "allow everything"; [`write_v1`] writes a deny-all first.)
/// - The rules are applied in order to a state made of a default (allow or deny) and
///   exceptions. An `a` rule resets it: its verdict becomes the default, with no exceptions.
///   A rule whose verdict differs from the default adds an exception (merging access into an
///   exception for exactly the same devices). A rule whose verdict is the default's removes
///   its access from the exception for exactly the same devices, and from nothing else.
/// - Default deny: allowed when a single exception matches the device and holds every access
///   asked for ("r" from one rule and "w" from another do not make "rw"). Default allow: denied
///   when any exception matches the device and holds any of the access asked for.
///
/// So it is not "the last matching rule wins": after `c *:* rwm`, denying `c 1:3 rwm` changes
/// nothing, since no exception is exactly `c 1:3`. The kernel does the same, silently;
/// [`validate`] refuses such lists, and [`attach`] and [`write_v1`] call it.
///
/// `kind` All asks about the char and the block device with these numbers: true if both are.
pub fn allowed(
    rules: &[DeviceRule],
    kind: DeviceKind,
    major: u32,
    minor: u32,
    access: &str,
) -> bool {
    let Some(access) = access_bits(access) else {
        return false;
    };
    let table = Table::build(rules);
    match kind {
        DeviceKind::All => {
            table.allows(DeviceKind::Char, major, minor, access)
                && table.allows(DeviceKind::Block, major, minor, access)
        }
        kind => table.allows(kind, major, minor, access),
    }
}

/// Checks a rule list before it is applied: every rule well formed (as `DeviceRule::parse`
/// would have made it), and no rule that takes access away from an overlapping rule before it
/// without being for exactly the same devices, which the kernel would silently ignore (see
/// [`allowed`]): allow (or deny) the narrower devices instead.
pub fn validate(rules: &[DeviceRule]) -> Result<()> {
    let mut table = Table::build(&[]);
    for (i, rule) in rules.iter().enumerate() {
        rule.check()?;
        let default_allow = table.default_allow;
        if let Some(survivor) = table.apply(rule) {
            let (verdict, other) = if rule.allow {
                ("allow", "deny")
            } else {
                ("deny", "allow")
            };
            return Err(Error::invalid(format!(
                "device rule {} (\"{}\", {verdict}) cannot take access away from the \
                 overlapping rule \"{}\" ({other}) before it: the devices controller only \
                 removes a rule for exactly the same devices, and would ignore this one; list \
                 narrower {other} rules instead",
                i + 1,
                rule.v1_line(),
                survivor.as_rule(!default_allow).v1_line(),
            )));
        }
    }
    Ok(())
}

/// Writes `rules` to a v1 devices cgroup directory, one line per rule into `devices.allow` or
/// `devices.deny`, after a deny-all unless the list starts with an `a` rule (a new v1 cgroup
/// copies its parent, normally "allow everything"). Allowing `a` needs a parent that allows
/// everything, and `a` rules fail once the cgroup has child cgroups: apply to a new cgroup.
pub fn write_v1(cgroup_dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    validate(rules)?;
    let allow_path = cgroup_dir.join("devices.allow");
    let deny_path = cgroup_dir.join("devices.deny");
    let open = |path: &Path| {
        OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io("opening", path, e))
    };
    let mut allow = open(&allow_path)?;
    let mut deny = open(&deny_path)?;
    let first = match rules.first() {
        Some(rule) if rule.kind == DeviceKind::All => None,
        _ => Some(DeviceRule::all(false)),
    };
    for rule in first.iter().chain(rules) {
        let (file, path) = if rule.allow {
            (&mut allow, &allow_path)
        } else {
            (&mut deny, &deny_path)
        };
        // One write per rule: the kernel parses each write as one rule.
        let line = rule.v1_line();
        match file.write(line.as_bytes()) {
            Ok(n) if n == line.len() => {}
            Ok(_) => {
                return Err(Error::new(
                    Kind::Io,
                    format!("short write of {line:?} to {}", path.display()),
                ))
            }
            Err(e) => return Err(Error::io(&format!("writing {line:?} to"), path, e)),
        }
    }
    Ok(())
}

// ---- the eBPF program ----

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one (on little-endian machines).
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Instruction classes, sizes, modes, sources and operations (linux/bpf_common.h, bpf.h).
const BPF_LDX: u8 = 0x01;
const BPF_ALU: u8 = 0x04;
const BPF_JMP: u8 = 0x05;
const BPF_W: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
const BPF_K: u8 = 0x00;
const BPF_X: u8 = 0x08;
const BPF_AND: u8 = 0x50;
const BPF_RSH: u8 = 0x70;
const BPF_MOV: u8 = 0xb0;
const BPF_JEQ: u8 = 0x10;
const BPF_JNE: u8 = 0x50;
const BPF_EXIT: u8 = 0x90;

const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

impl BpfInsn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
        #[cfg(target_endian = "little")]
        let regs = (src << 4) | (dst & 0x0f);
        #[cfg(target_endian = "big")]
        let regs = (dst << 4) | (src & 0x0f);
        BpfInsn {
            code,
            regs,
            off,
            imm,
        }
    }

    pub fn dst(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs & 0x0f
        } else {
            self.regs >> 4
        }
    }

    pub fn src(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs >> 4
        } else {
            self.regs & 0x0f
        }
    }

    /// dst = *(u32 *)(src + off), zero-extended.
    const fn load_word(dst: u8, src: u8, off: i16) -> BpfInsn {
        BpfInsn::new(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
    }

    /// 32-bit `dst op= imm` (the result is zero-extended to 64 bits).
    const fn alu32_imm(op: u8, dst: u8, imm: i32) -> BpfInsn {
        BpfInsn::new(BPF_ALU | op | BPF_K, dst, 0, 0, imm)
    }

    /// 32-bit `dst = src`, zero-extended.
    const fn mov32_reg(dst: u8, src: u8) -> BpfInsn {
        BpfInsn::new(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0)
    }

    /// `if dst op imm goto +off`, 64-bit compare with `imm` sign-extended.
    const fn jump_imm(op: u8, dst: u8, imm: i32) -> BpfInsn {
        BpfInsn::new(BPF_JMP | op | BPF_K, dst, 0, 0, imm)
    }

    /// `if dst op src goto +off`, 64-bit compare.
    const fn jump_reg(op: u8, dst: u8, src: u8) -> BpfInsn {
        BpfInsn::new(BPF_JMP | op | BPF_X, dst, src, 0, 0)
    }

    const fn exit() -> BpfInsn {
        BpfInsn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
    }
}

/// The eBPF program that answers for `rules` as [`allowed`] does.
///
/// It reads `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`, where
/// `access_type` is `access << 16 | type`, into R2 (type), R3 (access), R4 (major), R5
/// (minor), then has one block per exception of the evaluated rule list: compare type, access
/// (unless the exception holds all of rwm), major and minor unless wildcards, and on a match
/// return the opposite of the default; at the end, return the default. On a default-deny
/// list a block matches when the exception holds all the access asked for, on a
/// default-allow list when it holds any of it. 6 instructions of prologue, 4 to 9 per
/// exception, 2 at the end; the default rules take 52.
pub fn program(rules: &[DeviceRule]) -> Vec<BpfInsn> {
    let table = Table::build(rules);
    let default = i32::from(table.default_allow);
    let mut insns = Vec::new();
    if !table.exceptions.is_empty() {
        insns.extend([
            BpfInsn::load_word(R2, R1, 0),
            BpfInsn::alu32_imm(BPF_AND, R2, 0xffff),
            BpfInsn::load_word(R3, R1, 0),
            BpfInsn::alu32_imm(BPF_RSH, R3, 16),
            BpfInsn::load_word(R4, R1, 4),
            BpfInsn::load_word(R5, R1, 8),
        ]);
    }
    for exception in &table.exceptions {
        insns.extend(exception_block(exception, table.default_allow));
    }
    insns.extend([BpfInsn::alu32_imm(BPF_MOV, R0, default), BpfInsn::exit()]);
    insns
}

/// The instructions for one exception; every jump goes to the instruction after the block.
fn exception_block(exception: &Exception, default_allow: bool) -> Vec<BpfInsn> {
    let mut block = Vec::new();
    let mut jumps = Vec::new();
    let mut skip_unless = |block: &mut Vec<BpfInsn>, insn: BpfInsn| {
        jumps.push(block.len());
        block.push(insn);
    };
    let device_type = match exception.kind {
        DeviceKind::Block => DEV_BLOCK,
        _ => DEV_CHAR,
    };
    skip_unless(&mut block, BpfInsn::jump_imm(BPF_JNE, R2, device_type));
    if exception.access & ACC_ALL != ACC_ALL {
        // R1 (the context pointer, no longer needed) = access asked for & access held.
        block.push(BpfInsn::mov32_reg(R1, R3));
        block.push(BpfInsn::alu32_imm(BPF_AND, R1, exception.access as i32));
        if default_allow {
            // A deny exception applies if it holds any of the access.
            skip_unless(&mut block, BpfInsn::jump_imm(BPF_JEQ, R1, 0));
        } else {
            // An allow exception applies if it holds all of it.
            skip_unless(&mut block, BpfInsn::jump_reg(BPF_JNE, R1, R3));
        }
    }
    for (reg, number) in [(R4, exception.major), (R5, exception.minor)] {
        let Some(number) = number else { continue };
        match i32::try_from(number) {
            Ok(imm) => skip_unless(&mut block, BpfInsn::jump_imm(BPF_JNE, reg, imm)),
            Err(_) => {
                // An immediate is sign-extended to 64 bits and the register is zero-extended:
                // numbers from 2^31 up are compared through a register instead.
                block.push(BpfInsn::alu32_imm(BPF_MOV, R1, number as i32));
                skip_unless(&mut block, BpfInsn::jump_reg(BPF_JNE, reg, R1));
            }
        }
    }
    block.push(BpfInsn::alu32_imm(BPF_MOV, R0, i32::from(!default_allow)));
    block.push(BpfInsn::exit());
    let end = block.len();
    for at in jumps {
        block[at].off = (end - at - 1) as i16;
    }
    block
}

// ---- loading and attaching ----

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
/// The kernel wants a license string; nothing GPL-only is called, so any will do (runc's).
const LICENSE: &std::ffi::CStr = c"Apache";
const PROGRAM_NAME: &[u8] = b"gocker_devices";
const LOG_SIZE: usize = 256 * 1024;
/// The end of a long verifier log is kept: that is where the reason is.
const LOG_KEEP: usize = 8 * 1024;

/// A `union bpf_attr` for one command: its fields, then zeros well past the end of any
/// command's part of the union, since some kernels write outputs (BPF_PROG_QUERY's revision)
/// past the fields older callers know about. `[u8; N]` so there is no padding byte.
#[repr(C)]
#[derive(Clone, Copy)]
struct Attr<T> {
    fields: T,
    zero: [u8; 256],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// BPF_PROG_ATTACH and BPF_PROG_DETACH.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ProgQueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(cmd, attr): the return value; `fields` gets what the kernel wrote back, also on error.
fn sys_bpf<T: Copy>(cmd: libc::c_int, fields: &mut T) -> io::Result<libc::c_long> {
    let mut attr = Attr {
        fields: *fields,
        zero: [0; 256],
    };
    let size = std::mem::size_of::<Attr<T>>() as libc::c_uint;
    let mut tries = 0;
    loop {
        // SAFETY: `attr` is an initialized repr(C) value of `size` bytes without padding
        // (`fields` has none and `zero` is bytes), laid out as the kernel's bpf_attr for `cmd`;
        // the pointers inside it (instructions, license, log, id buffers) are the callers',
        // valid for the lengths given, and outlive the call.
        let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, &mut attr as *mut Attr<T>, size) };
        *fields = attr.fields;
        if ret >= 0 {
            return Ok(ret);
        }
        let err = io::Error::last_os_error();
        tries += 1;
        // The verifier can be interrupted (EAGAIN), as libbpf knows; so can anything (EINTR).
        match err.raw_os_error() {
            Some(libc::EINTR) | Some(libc::EAGAIN) if tries < 5 => continue,
            _ => return Err(err),
        }
    }
}

/// An fd a successful bpf() call returned.
fn owned_fd(fd: libc::c_long) -> io::Result<OwnedFd> {
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this new descriptor (close-on-exec) and nothing else
    // owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn prog_load(insns: &[BpfInsn], log: &mut [u8]) -> io::Result<OwnedFd> {
    let too_big = |_| io::Error::from_raw_os_error(libc::E2BIG);
    let mut prog_name = [0u8; 16];
    prog_name[..PROGRAM_NAME.len()].copy_from_slice(PROGRAM_NAME);
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len()).map_err(too_big)?,
        insns: insns.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        prog_name,
        ..Default::default()
    };
    if !log.is_empty() {
        attr.log_level = 1;
        attr.log_size = u32::try_from(log.len()).map_err(too_big)?;
        attr.log_buf = log.as_mut_ptr() as u64;
    }
    owned_fd(sys_bpf(BPF_PROG_LOAD, &mut attr)?)
}

/// Loads a device program; when the kernel refuses it, loads it again with a log buffer so
/// the error can carry the verifier's reason.
fn load(insns: &[BpfInsn]) -> Result<OwnedFd> {
    match prog_load(insns, &mut []) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            return Err(Error::with_source(
                Kind::Permission,
                "loading the device filter (an eBPF program) needs CAP_SYS_ADMIN or CAP_BPF",
                e,
            ))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            return Err(Error::with_source(
                Kind::Unsupported,
                "this kernel has no bpf() system call (CONFIG_BPF_SYSCALL) for the device filter",
                e,
            ))
        }
        Err(_) => {}
    }
    let mut log = vec![0u8; LOG_SIZE];
    match prog_load(insns, &mut log) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            let text = verifier_log(&log);
            if text.is_empty() {
                Err(Error::with_source(
                    Kind::Unsupported,
                    format!(
                        "the kernel refused the device filter ({} eBPF instructions) without a \
                         verifier log: it may lack cgroup device programs (Linux 4.15 with \
                         CONFIG_CGROUP_BPF)",
                        insns.len()
                    ),
                    e,
                ))
            } else {
                // The log is the cause; it goes last, so the errno goes in the message.
                Err(Error::new(
                    Kind::Runtime,
                    format!(
                        "the kernel's verifier rejected the device filter (an eBPF program \
                         of {} instructions): {e}; verifier log:\n{text}",
                        insns.len()
                    ),
                ))
            }
        }
    }
}

/// The log's text up to its NUL, its last `LOG_KEEP` bytes if longer.
fn verifier_log(log: &[u8]) -> String {
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let start = end.saturating_sub(LOG_KEEP);
    let text = String::from_utf8_lossy(&log[start..end]);
    let text = text.trim();
    if start > 0 {
        format!("...{text}")
    } else {
        text.to_string()
    }
}

fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    // An open descriptor is never negative.
    fd.as_raw_fd() as u32
}

/// The ids of the device programs attached to the cgroup itself (not its ancestors).
fn attached_programs(cgroup: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    for _ in 0..4 {
        let mut attr = ProgQueryAttr {
            target_fd: fd_u32(cgroup),
            attach_type: BPF_CGROUP_DEVICE,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            ..Default::default()
        };
        match sys_bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            // More attached than there was room for; prog_cnt says how many.
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                ids = vec![0; attr.prog_cnt as usize + 8];
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from_raw_os_error(libc::ENOSPC))
}

fn prog_attach(cmd: libc::c_int, cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = ProgAttachAttr {
        target_fd: fd_u32(cgroup),
        attach_bpf_fd: fd_u32(prog),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: if cmd == BPF_PROG_ATTACH {
            BPF_F_ALLOW_MULTI
        } else {
            0
        },
        ..Default::default()
    };
    sys_bpf(cmd, &mut attr).map(drop)
}

fn program_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdByIdAttr {
        prog_id: id,
        ..Default::default()
    };
    owned_fd(sys_bpf(BPF_PROG_GET_FD_BY_ID, &mut attr)?)
}

fn errno_kind(e: &io::Error) -> Kind {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => Kind::Permission,
        Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => Kind::Unsupported,
        Some(libc::EBADF) => Kind::InvalidArgument,
        _ => Kind::Runtime,
    }
}

/// Compiles `rules` ([`program`]), loads the program and attaches it to a cgroup v2 directory
/// (`BPF_PROG_ATTACH`, `BPF_CGROUP_DEVICE`, `BPF_F_ALLOW_MULTI` as runc does), then detaches
/// the device programs that were attached to it before, so applying again replaces the rules
/// with no moment unguarded. The attachment lasts as long as the cgroup; the program's fd is
/// closed on return. Programs attached to ancestor cgroups still apply too: a device must pass
/// them all.
pub fn attach(cgroup_dir: BorrowedFd<'_>, rules: &[DeviceRule]) -> Result<()> {
    validate(rules)?;
    let prog = load(&program(rules))?;
    let old = attached_programs(cgroup_dir).map_err(|e| {
        let message = if e.raw_os_error() == Some(libc::EBADF) {
            "listing the device filters of the container's cgroup: not a cgroup v2 directory"
        } else {
            "listing the device filters of the container's cgroup"
        };
        Error::with_source(errno_kind(&e), message, e)
    })?;
    prog_attach(BPF_PROG_ATTACH, cgroup_dir, prog.as_fd()).map_err(|e| {
        Error::with_source(
            errno_kind(&e),
            "attaching the device filter to the container's cgroup (BPF_PROG_ATTACH)",
            e,
        )
    })?;
    for id in old {
        let old_prog = match program_by_id(id) {
            Ok(fd) => fd,
            // Gone meanwhile, or hidden by an LSM (as runc finds with SELinux): one more
            // filter can only refuse more, never allow.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT) | Some(libc::EPERM) | Some(libc::EACCES)
                ) =>
            {
                continue
            }
            Err(e) => {
                return Err(Error::with_source(
                    errno_kind(&e),
                    format!("opening the container cgroup's old device filter (program {id})"),
                    e,
                ))
            }
        };
        match prog_attach(BPF_PROG_DETACH, cgroup_dir, old_prog.as_fd()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => {
                return Err(Error::with_source(
                    errno_kind(&e),
                    format!(
                        "the new device filter is attached, but detaching the old one \
                         (program {id}) failed; both apply"
                    ),
                    e,
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::fs;
    use std::io::Read;
    use std::os::unix::ffi::OsStrExt;
    use std::path::PathBuf;

    fn rule(text: &str) -> DeviceRule {
        DeviceRule::parse(text).unwrap()
    }

    fn deny(text: &str) -> DeviceRule {
        DeviceRule {
            allow: false,
            ..rule(text)
        }
    }

    fn with(mut rules: Vec<DeviceRule>, more: &[&str]) -> Vec<DeviceRule> {
        rules.extend(more.iter().map(|t| rule(t)));
        rules
    }

    // ---- parsing ----

    #[test]
    fn parses_docker_and_v1_text() {
        let r = rule("c 1:3 rwm");
        assert_eq!(
            r,
            DeviceRule {
                allow: true,
                kind: DeviceKind::Char,
                major: Some(1),
                minor: Some(3),
                access: "rwm".into()
            }
        );
        let r = rule("b 8:* r");
        assert_eq!(
            (r.kind, r.major, r.minor),
            (DeviceKind::Block, Some(8), None)
        );
        assert_eq!(rule("a *:* rwm"), DeviceRule::all(true));
        assert_eq!(rule("a"), DeviceRule::all(true));
        assert_eq!(rule("  c   *:*   m \n").v1_line(), "c *:* m");
        assert_eq!(rule("c 1:3 mwr").access, "rwm");
        assert_eq!(rule("c 1:3 wwr").access, "rw");
        assert_eq!(rule("c 4095:1048575 r").v1_line(), "c 4095:1048575 r");
        for text in ["c 1:3 rwm", "b 8:* r", "a *:* rwm", "c *:5 w", "b 7:0 rw"] {
            assert_eq!(rule(text).v1_line(), text);
            assert_eq!(rule(text).to_string(), text);
        }
    }

    #[test]
    fn parse_errors_name_the_text_and_what_would_work() {
        let cases = [
            ("x 1:3", "type must be a, b or c; e.g. \"c 1:3 rwm\""),
            ("", "it is empty"),
            ("c 1:3", "expected \"<type> <major>:<minor> <access>\""),
            ("c 1:3 rwm extra", "expected"),
            ("c 1 rwm", "<major>:<minor>"),
            ("c x:3 rwm", "major \"x\" is not a number or *"),
            ("c +1:3 rwm", "major \"+1\" is not a number"),
            ("c 1: rwm", "minor \"\" is not a number"),
            (
                "c 1:3 rwx",
                "access must be one or more of r (read), w (write) and m (mknod)",
            ),
            (
                "c 4096:0 r",
                "major 4096 is out of range: Linux majors go up to 4095",
            ),
            ("c 1:1048576 r", "minor 1048576 is out of range"),
            ("c 99999999999:1 r", "out of range"),
            ("a 1:3 rwm", "must be \"a *:* rwm\""),
            ("a *:* r", "must be \"a *:* rwm\""),
        ];
        for (text, want) in cases {
            let err = DeviceRule::parse(text).unwrap_err();
            assert_eq!(err.kind(), Kind::InvalidArgument, "{text}");
            let msg = err.message();
            assert!(
                msg.starts_with(&format!("invalid device rule {text:?}: ")),
                "{msg}"
            );
            assert!(msg.contains(want), "{text}: {msg}");
        }
        assert_eq!(
            DeviceRule::parse("x 1:3").unwrap_err().message(),
            "invalid device rule \"x 1:3\": type must be a, b or c; e.g. \"c 1:3 rwm\""
        );
    }

    #[test]
    fn rules_round_trip_through_json() {
        let rules = with(default_rules(), &["b 7:0 rw", "c *:* m"]);
        let json = serde_json::to_string(&rules).unwrap();
        assert!(json
            .contains(r#"{"allow":false,"kind":"all","major":null,"minor":null,"access":"rwm"}"#));
        let back: Vec<DeviceRule> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rules);
    }

    // ---- semantics ----

    #[test]
    fn default_rules_allow_the_standard_char_devices_only() {
        let rules = default_rules();
        assert_eq!(rules.len(), 10);
        assert!(validate(&rules).is_ok());
        for (major, minor) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 1),
            (5, 2),
            (136, 0),
            (136, 77),
        ] {
            for access in ["r", "w", "m", "rw", "rwm"] {
                assert!(
                    allowed(&rules, DeviceKind::Char, major, minor, access),
                    "c {major}:{minor} {access}"
                );
            }
            assert!(!allowed(&rules, DeviceKind::Block, major, minor, "r"));
            assert!(!allowed(&rules, DeviceKind::All, major, minor, "r"));
        }
        // kmsg, mem, kmem, port, kvm, tun, fuse, a tty other than 5:0, block devices.
        for (major, minor) in [
            (1, 11),
            (1, 1),
            (1, 2),
            (1, 4),
            (10, 232),
            (10, 200),
            (10, 229),
            (4, 1),
            (5, 3),
        ] {
            assert!(
                !allowed(&rules, DeviceKind::Char, major, minor, "r"),
                "c {major}:{minor}"
            );
            assert!(
                !allowed(&rules, DeviceKind::Char, major, minor, "m"),
                "c {major}:{minor}"
            );
        }
        for (major, minor) in [(8, 0), (7, 0), (254, 0), (253, 0), (1, 3)] {
            assert!(!allowed(&rules, DeviceKind::Block, major, minor, "r"));
            assert!(!allowed(&rules, DeviceKind::Block, major, minor, "m"));
        }
    }

    #[test]
    fn requests_that_name_no_access_are_refused() {
        let all = [DeviceRule::all(true)];
        assert!(allowed(&all, DeviceKind::Char, 1, 3, "rwm"));
        assert!(!allowed(&all, DeviceKind::Char, 1, 3, ""));
        assert!(!allowed(&all, DeviceKind::Char, 1, 3, "x"));
        assert!(
            !allowed(&[], DeviceKind::Char, 1, 3, "r"),
            "an empty list allows nothing"
        );
    }

    #[test]
    fn one_rule_must_hold_all_the_access_asked_for() {
        let rules = [rule("c 1:3 r"), rule("c 1:* w")];
        assert!(allowed(&rules, DeviceKind::Char, 1, 3, "r"));
        assert!(allowed(&rules, DeviceKind::Char, 1, 3, "w"));
        assert!(!allowed(&rules, DeviceKind::Char, 1, 3, "rw"));
        // The same devices merge.
        let rules = [rule("c 1:3 r"), rule("c 1:3 w")];
        assert!(allowed(&rules, DeviceKind::Char, 1, 3, "rw"));
        assert!(!allowed(&rules, DeviceKind::Char, 1, 3, "rwm"));
    }

    #[test]
    fn an_a_rule_resets_and_a_deny_removes_exactly_its_devices() {
        let rules = with(default_rules(), &["a"]);
        assert!(allowed(&rules, DeviceKind::Block, 8, 0, "rwm"));
        let mut rules = with(vec![DeviceRule::all(true)], &[]);
        rules.push(DeviceRule::all(false));
        assert!(!allowed(&rules, DeviceKind::Char, 1, 3, "r"));
        // Deny in a deny-all list: takes access away from the same devices.
        let rules = [DeviceRule::all(false), rule("c 1:3 rwm"), deny("c 1:3 w")];
        assert!(allowed(&rules, DeviceKind::Char, 1, 3, "rm"));
        assert!(!allowed(&rules, DeviceKind::Char, 1, 3, "w"));
        assert!(validate(&rules).is_ok());
        // ... but not from broader ones: the kernel ignores the deny, and so does `allowed`,
        // while `validate` refuses the list.
        let rules = [DeviceRule::all(false), rule("c 1:* rwm"), deny("c 1:3 rwm")];
        assert!(allowed(&rules, DeviceKind::Char, 1, 3, "r"));
        let err = validate(&rules).unwrap_err();
        assert_eq!(err.kind(), Kind::InvalidArgument);
        assert!(err.message().contains("device rule 3 (\"c 1:3 rwm\", deny) cannot take access away from the overlapping rule \"c 1:* rwm\" (allow) before it"), "{}", err.message());
        // Overlapping but not broader is refused too.
        let rules = [DeviceRule::all(false), rule("c 5:* rwm"), deny("c *:3 r")];
        assert!(validate(&rules).is_err());
        // No overlap in access: fine.
        let rules = [DeviceRule::all(false), rule("c 1:* m"), deny("c 1:3 r")];
        assert!(validate(&rules).is_ok());
    }

    #[test]
    fn allow_all_lists_deny_on_any_overlap() {
        let rules = [DeviceRule::all(true), deny("b *:* w"), deny("c 1:11 r")];
        assert!(allowed(&rules, DeviceKind::Block, 8, 0, "r"));
        assert!(!allowed(&rules, DeviceKind::Block, 8, 0, "rw"));
        assert!(!allowed(&rules, DeviceKind::Char, 1, 11, "rw"));
        assert!(allowed(&rules, DeviceKind::Char, 1, 11, "wm"));
        assert!(
            !allowed(&rules, DeviceKind::All, 1, 11, "w"),
            "the block 1:11 is denied w"
        );
        assert!(validate(&rules).is_ok());
        // Allowing back part of a broader deny is ignored, and refused by validate.
        let rules = [DeviceRule::all(true), deny("b *:* rwm"), rule("b 7:0 r")];
        assert!(!allowed(&rules, DeviceKind::Block, 7, 0, "r"));
        assert!(validate(&rules).is_err());
        let rules = [DeviceRule::all(true), deny("b 7:0 rwm"), rule("b 7:0 r")];
        assert!(allowed(&rules, DeviceKind::Block, 7, 0, "r"));
        assert!(!allowed(&rules, DeviceKind::Block, 7, 0, "rw"));
        assert!(validate(&rules).is_ok());
    }

    #[test]
    fn validate_checks_rules_built_without_parse() {
        let bad = [
            DeviceRule {
                access: "rx".into(),
                ..rule("c 1:3 r")
            },
            DeviceRule {
                access: String::new(),
                ..rule("c 1:3 r")
            },
            DeviceRule {
                major: Some(5000),
                ..rule("c 1:3 r")
            },
            DeviceRule {
                minor: Some(u32::MAX),
                ..rule("c 1:3 r")
            },
            DeviceRule {
                major: Some(1),
                ..DeviceRule::all(false)
            },
            DeviceRule {
                access: "r".into(),
                ..DeviceRule::all(true)
            },
            DeviceRule {
                access: "r\nc *:* rwm".into(),
                ..rule("c 1:3 r")
            },
        ];
        for r in bad {
            let err = validate(&[DeviceRule::all(false), r.clone()]).unwrap_err();
            assert_eq!(err.kind(), Kind::InvalidArgument);
            assert!(
                err.message().starts_with("invalid device rule \""),
                "{}",
                err.message()
            );
        }
    }

    // ---- the program, run by a small interpreter ----

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Value {
        Context,
        Number(u64),
    }

    /// Runs a device program as the kernel would, for the instructions `program` emits; panics
    /// on anything else, on a backward or out-of-range jump, and on reading an unset register.
    fn run(insns: &[BpfInsn], kind: DeviceKind, major: u32, minor: u32, access: u32) -> u64 {
        let ty = match kind {
            DeviceKind::Block => 1,
            DeviceKind::Char => 2,
            DeviceKind::All => panic!("a request is for one type"),
        };
        let ctx = [(access << 16) | ty, major, minor];
        let mut regs: [Option<Value>; 11] = [None; 11];
        regs[1] = Some(Value::Context);
        let num = |regs: &[Option<Value>; 11], r: u8| match regs[r as usize] {
            Some(Value::Number(n)) => n,
            other => panic!("r{r} read as a number while {other:?}"),
        };
        let mut pc = 0usize;
        for _ in 0..insns.len() {
            let insn = insns[pc];
            let (dst, src) = (insn.dst(), insn.src());
            let mut next = pc + 1;
            match insn.code {
                0x61 => {
                    assert_eq!(
                        regs[src as usize],
                        Some(Value::Context),
                        "load from a non-context"
                    );
                    assert!(matches!(insn.off, 0 | 4 | 8), "load at {}", insn.off);
                    regs[dst as usize] = Some(Value::Number(u64::from(ctx[insn.off as usize / 4])));
                }
                0x54 => {
                    regs[dst as usize] = Some(Value::Number(u64::from(
                        num(&regs, dst) as u32 & insn.imm as u32,
                    )))
                }
                0x74 => {
                    regs[dst as usize] = Some(Value::Number(u64::from(
                        (num(&regs, dst) as u32) >> insn.imm,
                    )))
                }
                0xb4 => regs[dst as usize] = Some(Value::Number(u64::from(insn.imm as u32))),
                0xbc => regs[dst as usize] = Some(Value::Number(u64::from(num(&regs, src) as u32))),
                0x55 | 0x15 | 0x5d => {
                    let left = num(&regs, dst);
                    let right = if insn.code == 0x5d {
                        num(&regs, src)
                    } else {
                        insn.imm as i64 as u64
                    };
                    let taken = if insn.code == 0x15 {
                        left == right
                    } else {
                        left != right
                    };
                    assert!(insn.off >= 0, "backward jump");
                    if taken {
                        next = pc + 1 + insn.off as usize;
                    }
                }
                0x95 => return num(&regs, 0),
                code => panic!("unexpected opcode {code:#x} at {pc}"),
            }
            assert!(next < insns.len(), "jump or fall off the end at {pc}");
            pc = next;
        }
        panic!("no exit")
    }

    const KINDS: [DeviceKind; 2] = [DeviceKind::Char, DeviceKind::Block];
    const MAJORS: [u32; 12] = [0, 1, 3, 5, 7, 8, 10, 136, 254, MAX_MAJOR, 1 << 31, u32::MAX];
    const MINORS: [u32; 11] = [0, 1, 2, 3, 5, 9, 11, 232, MAX_MINOR, 1 << 31, u32::MAX];

    /// Checks the program for `rules` against `allowed` on every probe; returns how many.
    fn check_program(rules: &[DeviceRule]) -> usize {
        let insns = program(rules);
        let mut probes = 0;
        for kind in KINDS {
            for major in MAJORS {
                for minor in MINORS {
                    for access in 1..=ACC_ALL {
                        let want = allowed(rules, kind, major, minor, &access_string(access));
                        let got = run(&insns, kind, major, minor, access);
                        assert_eq!(
                            got,
                            u64::from(want),
                            "{kind:?} {major}:{minor} {} for {:?}",
                            access_string(access),
                            rules
                                .iter()
                                .map(|r| format!("{}{}", if r.allow { "+" } else { "-" }, r))
                                .collect::<Vec<_>>()
                        );
                        probes += 1;
                    }
                }
            }
        }
        probes
    }

    #[test]
    fn program_for_the_default_rules_matches_allowed() {
        let insns = program(&default_rules());
        assert_eq!(insns.len(), 52);
        assert_eq!(insns.last(), Some(&BpfInsn::exit()));
        check_program(&default_rules());
        assert_eq!(run(&insns, DeviceKind::Char, 1, 3, ACC_READ | ACC_WRITE), 1);
        assert_eq!(run(&insns, DeviceKind::Char, 1, 11, ACC_READ), 0);
        assert_eq!(run(&insns, DeviceKind::Block, 7, 0, ACC_MKNOD), 0);
    }

    #[test]
    fn program_for_privileged_and_device_flags_matches_allowed() {
        let privileged = [DeviceRule::all(true)];
        assert_eq!(program(&privileged).len(), 2);
        check_program(&privileged);
        let loop0 = with(default_rules(), &["b 7:0 rw"]);
        check_program(&loop0);
        assert_eq!(
            run(
                &program(&loop0),
                DeviceKind::Block,
                7,
                0,
                ACC_READ | ACC_WRITE
            ),
            1
        );
        assert_eq!(run(&program(&loop0), DeviceKind::Block, 7, 0, ACC_MKNOD), 0);
        assert_eq!(run(&program(&loop0), DeviceKind::Block, 7, 1, ACC_READ), 0);
        check_program(&with(
            default_rules(),
            &["c *:* m", "b *:* m", "c 10:200 rwm"],
        ));
        check_program(&[]);
        check_program(&[
            DeviceRule::all(true),
            deny("b *:* w"),
            deny("c 1:11 r"),
            deny("c 10:* rwm"),
        ]);
        check_program(&[
            DeviceRule::all(false),
            rule("c 1:3 r"),
            rule("c 1:* w"),
            rule("c 1:3 w"),
        ]);
    }

    #[test]
    fn program_compares_numbers_past_i32_correctly() {
        // Out of Linux's range (validate refuses them), but program and allowed still agree.
        let big = |major, minor| DeviceRule {
            allow: true,
            kind: DeviceKind::Char,
            major,
            minor,
            access: "rw".into(),
        };
        let rules = [
            DeviceRule::all(false),
            big(Some(u32::MAX), Some(1 << 31)),
            big(Some(1 << 31), None),
        ];
        check_program(&rules);
        assert_eq!(
            run(
                &program(&rules),
                DeviceKind::Char,
                u32::MAX,
                1 << 31,
                ACC_READ
            ),
            1
        );
        assert_eq!(
            run(&program(&rules), DeviceKind::Char, u32::MAX, 1, ACC_READ),
            0
        );
    }

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    #[test]
    fn program_matches_allowed_on_random_lists() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut probes = 0;
        for _ in 0..300 {
            let len = 1 + rng.next() % 8;
            let rules: Vec<DeviceRule> = (0..len)
                .map(|_| {
                    let kind = rng.pick(&[
                        DeviceKind::All,
                        DeviceKind::Char,
                        DeviceKind::Char,
                        DeviceKind::Block,
                        DeviceKind::Block,
                        DeviceKind::Char,
                    ]);
                    if kind == DeviceKind::All {
                        return DeviceRule::all(rng.next().is_multiple_of(2));
                    }
                    DeviceRule {
                        allow: !rng.next().is_multiple_of(3),
                        kind,
                        major: rng.pick(&[
                            None,
                            Some(1),
                            Some(5),
                            Some(7),
                            Some(136),
                            Some(MAX_MAJOR),
                        ]),
                        minor: rng.pick(&[None, Some(0), Some(3), Some(11), Some(MAX_MINOR)]),
                        access: access_string(1 + (rng.next() % 7) as u32),
                    }
                })
                .collect();
            probes += check_program(&rules);
        }
        assert!(probes > 500_000);
    }

    #[test]
    fn instruction_layout_is_the_kernels() {
        assert_eq!(std::mem::size_of::<BpfInsn>(), 8);
        let insn = BpfInsn::jump_reg(BPF_JNE, R4, R1);
        assert_eq!((insn.code, insn.dst(), insn.src()), (0x5d, 4, 1));
        assert_eq!(std::mem::size_of::<ProgLoadAttr>(), 72);
        assert_eq!(std::mem::size_of::<ProgQueryAttr>(), 32);
        assert_eq!(std::mem::size_of::<Attr<ProgAttachAttr>>(), 20 + 256);
        assert_eq!(std::mem::size_of::<Attr<ProgLoadAttr>>(), 72 + 256);
    }

    // ---- on this kernel ----

    /// Whether this process may load BPF programs (root with a kernel that has them).
    fn kernel_loads_programs() -> bool {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return false;
        }
        match load(&program(&[DeviceRule::all(true)])) {
            Ok(_) => true,
            Err(e) => {
                eprintln!("skipping: {}", e.message());
                false
            }
        }
    }

    #[test]
    fn kernel_verifier_accepts_the_programs() {
        if !kernel_loads_programs() {
            return;
        }
        let mut rng = Rng(7);
        let lists = [
            default_rules(),
            with(default_rules(), &["b 7:0 rw", "c *:* m", "b 8:* r"]),
            vec![DeviceRule::all(true), deny("b *:* w"), deny("c 1:11 r")],
            vec![],
            (0..200)
                .map(|i| DeviceRule {
                    allow: true,
                    kind: DeviceKind::Char,
                    major: Some((rng.next() % 4096) as u32),
                    minor: Some(i),
                    access: access_string(1 + (rng.next() % 7) as u32),
                })
                .collect(),
        ];
        for rules in lists {
            if let Err(e) = load(&program(&rules)) {
                panic!("{} rules: {}", rules.len(), e.message());
            }
        }
    }

    #[test]
    fn kernel_rejection_carries_the_verifier_log() {
        if !kernel_loads_programs() {
            return;
        }
        // Exit without setting R0.
        let err = load(&[BpfInsn::exit()]).unwrap_err();
        assert_eq!(err.kind(), Kind::Runtime);
        assert!(
            err.message().contains("verifier log:\n"),
            "{}",
            err.message()
        );
        assert!(err.message().contains("R0 !read_ok"), "{}", err.message());
    }

    // ---- the real thing: a child process in a cgroup, opening devices ----

    /// A directory removed when dropped (a cgroup: empty by then, since its process was waited for).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(parent: &str, name: &str) -> TempDir {
            let path =
                Path::new(parent).join(format!("gocker-devtest-{}-{name}", std::process::id()));
            fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            if self.0.starts_with("/sys") {
                let _ = fs::remove_dir(&self.0);
            } else {
                let _ = fs::remove_dir_all(&self.0);
            }
        }
    }

    enum Op {
        Open(&'static str, libc::c_int),
        Mknod(PathBuf, libc::mode_t, u32, u32),
    }

    /// One attempt by the child and the errno it must get (0: it must succeed).
    struct Probe(Op, i32);

    fn describe(op: &Op) -> String {
        match op {
            Op::Open(path, flags) => format!(
                "open {path} {}",
                if *flags & libc::O_RDWR != 0 {
                    "rw"
                } else {
                    "r"
                }
            ),
            Op::Mknod(path, mode, major, minor) => format!(
                "mknod {} {} {major}:{minor}",
                path.display(),
                if mode & libc::S_IFMT == libc::S_IFBLK {
                    "b"
                } else {
                    "c"
                }
            ),
        }
    }

    /// Forks a child that moves itself into the cgroup whose `cgroup.procs` is given and tries
    /// every probe; returns one line per probe whose result was not the expected one.
    fn run_in_cgroup(procs: &Path, probes: &[Probe]) -> Vec<String> {
        let procs = CString::new(procs.as_os_str().as_bytes()).unwrap();
        let paths: Vec<CString> = probes
            .iter()
            .map(|Probe(op, _)| match op {
                Op::Open(path, _) => CString::new(*path).unwrap(),
                Op::Mknod(path, ..) => CString::new(path.as_os_str().as_bytes()).unwrap(),
            })
            .collect();
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors pipe2 writes.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: the child calls only async-signal-safe functions (open, write, close, mknod,
        // _exit) on memory prepared before the fork, and never returns.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            // SAFETY: (all of the child) plain system calls on valid, NUL-terminated strings
            // and buffers owned by this stack frame.
            unsafe {
                libc::close(fds[0]);
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    libc::_exit(100);
                }
                libc::close(fd);
                for (Probe(op, _), path) in probes.iter().zip(&paths) {
                    let ok = match op {
                        Op::Open(_, flags) => {
                            let fd = libc::open(path.as_ptr(), *flags);
                            if fd >= 0 {
                                libc::close(fd);
                            }
                            fd >= 0
                        }
                        Op::Mknod(_, mode, major, minor) => {
                            libc::mknod(path.as_ptr(), *mode | 0o600, libc::makedev(*major, *minor))
                                == 0
                        }
                    };
                    let result = if ok {
                        0
                    } else {
                        (*libc::__errno_location()).min(255) as u8
                    };
                    libc::write(fds[1], (&result as *const u8).cast(), 1);
                }
                libc::_exit(0);
            }
        }
        // SAFETY: fds[1] is ours and closed once; fds[0] is ours and given to the File.
        unsafe { libc::close(fds[1]) };
        let mut results = Vec::new();
        // SAFETY: see above.
        unsafe { fs::File::from_raw_fd(fds[0]) }
            .read_to_end(&mut results)
            .unwrap();
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child: status {status:#x}"
        );
        assert_eq!(results.len(), probes.len());
        probes
            .iter()
            .zip(results)
            .filter(|(Probe(_, want), got)| i32::from(*got) != *want)
            .map(|(Probe(op, want), got)| {
                let name = |e: i32| {
                    if e == 0 {
                        "success".to_string()
                    } else {
                        io::Error::from_raw_os_error(e).to_string()
                    }
                };
                format!(
                    "{}: got {}, want {}",
                    describe(op),
                    name(i32::from(got)),
                    name(*want)
                )
            })
            .collect()
    }

    fn open(path: &'static str, flags: libc::c_int) -> Option<Op> {
        Path::new(path).exists().then_some(Op::Open(path, flags))
    }

    /// The probes for the default rules, plus the nodes made in `tmp`.
    fn default_probes(tmp: &Path) -> Vec<Probe> {
        let mut probes = vec![
            Probe(Op::Open("/dev/null", libc::O_RDWR), 0),
            Probe(Op::Open("/dev/zero", libc::O_RDONLY), 0),
            Probe(Op::Open("/dev/kmsg", libc::O_RDONLY), libc::EPERM),
            Probe(
                Op::Mknod(tmp.join("loop0"), libc::S_IFBLK, 7, 0),
                libc::EPERM,
            ),
            Probe(
                Op::Mknod(tmp.join("kmsg"), libc::S_IFCHR, 1, 11),
                libc::EPERM,
            ),
            Probe(Op::Mknod(tmp.join("null"), libc::S_IFCHR, 1, 3), 0),
        ];
        for path in ["/dev/vda", "/dev/sda", "/dev/loop0", "/dev/mem", "/dev/kvm"] {
            if let Some(op) = open(path, libc::O_RDONLY) {
                probes.push(Probe(op, libc::EPERM));
            }
        }
        probes
    }

    fn v2_cgroup(name: &str) -> (TempDir, OwnedFd) {
        let dir = TempDir::new("/sys/fs/cgroup/unified", name);
        let fd: OwnedFd = fs::File::open(&dir.0).unwrap().into();
        (dir, fd)
    }

    fn attached_count(fd: &OwnedFd) -> usize {
        attached_programs(fd.as_fd()).unwrap().len()
    }

    #[test]
    #[ignore = "needs root and a cgroup2 at /sys/fs/cgroup/unified; run with --ignored"]
    fn host_v2_default_rules_refuse_kmsg_and_block_devices() {
        let tmp = TempDir::new("/tmp", "v2-default");
        let (cgroup, fd) = v2_cgroup("v2-default");
        attach(fd.as_fd(), &default_rules()).unwrap();
        assert_eq!(attached_count(&fd), 1);
        let failures = run_in_cgroup(&cgroup.0.join("cgroup.procs"), &default_probes(&tmp.0));
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    #[ignore = "needs root and a cgroup2 at /sys/fs/cgroup/unified; run with --ignored"]
    fn host_v2_device_flag_allows_exactly_its_access() {
        assert!(Path::new("/dev/loop0").exists() && Path::new("/dev/loop1").exists());
        let tmp = TempDir::new("/tmp", "v2-loop");
        let (cgroup, fd) = v2_cgroup("v2-loop");
        attach(fd.as_fd(), &with(default_rules(), &["b 7:0 rw"])).unwrap();
        let probes = [
            Probe(Op::Open("/dev/loop0", libc::O_RDWR), 0),
            Probe(Op::Open("/dev/loop1", libc::O_RDONLY), libc::EPERM),
            Probe(
                Op::Mknod(tmp.0.join("loop0"), libc::S_IFBLK, 7, 0),
                libc::EPERM,
            ),
            Probe(Op::Open("/dev/null", libc::O_RDWR), 0),
            Probe(Op::Open("/dev/kmsg", libc::O_RDONLY), libc::EPERM),
        ];
        let failures = run_in_cgroup(&cgroup.0.join("cgroup.procs"), &probes);
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    #[ignore = "needs root and a cgroup2 at /sys/fs/cgroup/unified; run with --ignored"]
    fn host_v2_reapplying_replaces_the_filter() {
        let tmp = TempDir::new("/tmp", "v2-again");
        let (cgroup, fd) = v2_cgroup("v2-again");
        let procs = cgroup.0.join("cgroup.procs");
        attach(fd.as_fd(), &default_rules()).unwrap();
        attach(fd.as_fd(), &[DeviceRule::all(true)]).unwrap();
        assert_eq!(attached_count(&fd), 1);
        let privileged = [
            Probe(Op::Open("/dev/kmsg", libc::O_RDONLY), 0),
            Probe(Op::Open("/dev/loop0", libc::O_RDONLY), 0),
            Probe(Op::Mknod(tmp.0.join("loop0"), libc::S_IFBLK, 7, 0), 0),
        ];
        let failures = run_in_cgroup(&procs, &privileged);
        assert!(failures.is_empty(), "privileged: {failures:#?}");
        attach(fd.as_fd(), &default_rules()).unwrap();
        assert_eq!(attached_count(&fd), 1);
        let failures = run_in_cgroup(
            &procs,
            &[Probe(Op::Open("/dev/kmsg", libc::O_RDONLY), libc::EPERM)],
        );
        assert!(failures.is_empty(), "default again: {failures:#?}");
    }

    #[test]
    #[ignore = "needs root; run with --ignored"]
    fn host_attach_refuses_a_v1_directory() {
        let dir = TempDir::new("/tmp", "not-a-cgroup");
        let fd: OwnedFd = fs::File::open(&dir.0).unwrap().into();
        let err = attach(fd.as_fd(), &default_rules()).unwrap_err();
        assert_eq!(err.kind(), Kind::InvalidArgument, "{}", err.message());
    }

    #[test]
    #[ignore = "needs root and a v1 devices controller at /sys/fs/cgroup/devices; run with --ignored"]
    fn host_v1_default_rules_refuse_kmsg_and_block_devices() {
        let tmp = TempDir::new("/tmp", "v1-default");
        let cgroup = TempDir::new("/sys/fs/cgroup/devices", "v1-default");
        write_v1(&cgroup.0, &default_rules()).unwrap();
        let list = fs::read_to_string(cgroup.0.join("devices.list")).unwrap();
        let mut got: Vec<&str> = list.lines().collect();
        let mut want: Vec<String> = default_rules()[1..]
            .iter()
            .map(DeviceRule::v1_line)
            .collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        let failures = run_in_cgroup(&cgroup.0.join("cgroup.procs"), &default_probes(&tmp.0));
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
