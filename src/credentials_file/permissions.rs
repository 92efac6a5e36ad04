//! Who may read and write the file: its mode and owner, as the command
//! line gives them and as this process can apply them.

/// The mode the file gets unless `--mode` says otherwise: only its owner may
/// read the keys.
pub const DEFAULT_MODE: u32 = 0o600;

/// Who should own the written file (for --owner UID[:GID]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    /// `None` leaves the group as the file was created with.
    pub gid: Option<u32>,
}

/// Reads `--mode`: octal permission bits, owner read/write, at most read
/// for group and others.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    // from_str_radix would take a sign too.
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err("not an octal mode like 0600 or 0640".into());
    }
    let mode = u32::from_str_radix(digits, 8)
        .map_err(|_| "not an octal mode like 0600 or 0640".to_string())?;
    if mode > 0o777 {
        return Err("only permission bits (at most 0777) are allowed".into());
    }
    if mode & 0o600 != 0o600 {
        return Err("the owner needs read and write permission (0600 at least)".into());
    }
    // Whoever may write the file may swap the keys an application uses;
    // nothing in it is a program.
    let why = match (mode & 0o111 != 0, mode & 0o022 != 0) {
        (true, true) => "makes the credentials file executable and lets group or others write it",
        (true, false) => "makes the credentials file executable",
        (false, true) => "lets group or others write the credentials file",
        (false, false) => return Ok(mode),
    };
    Err(format!("{mode:04o} {why}; use 0600, 0640 or 0644"))
}

/// Reads `--owner UID[:GID]`, numeric ids only.
pub fn parse_owner(text: &str) -> Result<Owner, String> {
    let num = |s: &str| {
        // Digits only: parse would take a sign too.
        let id = Some(s)
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u32>().ok());
        match id {
            // chown(2) reads -1 as "do not change": it would quietly do nothing.
            Some(u32::MAX) => Err(format!("{s} is -1 to chown(2), which means no change")),
            Some(id) => Ok(id),
            None => Err(format!(
                "{s:?} is not a numeric id from 0 to 4294967294 (names are not looked up)"
            )),
        }
    };
    match text.split_once(':') {
        None => Ok(Owner {
            uid: num(text)?,
            gid: None,
        }),
        Some((u, g)) => Ok(Owner {
            uid: num(u)?,
            gid: Some(num(g)?),
        }),
    }
}

/// `/proc/self/status`, which says who this process is without unsafe
/// code; `None` without `/proc`.
fn self_status() -> Option<String> {
    std::fs::read_to_string("/proc/self/status").ok()
}

/// The words after `name` (`Uid:`, `Groups:`, ...) in `status`.
fn field(status: &str, name: &str) -> Vec<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Whether this process may give a file of its own to group `gid`: it is
/// a member, or may give files to anyone. Without `/proc`, no: keeping a
/// group is never worth a failed write.
pub(super) fn may_keep_group(gid: u32) -> bool {
    let Some(uid) = our_uid() else {
        return false;
    };
    may_chown(Owner {
        uid,
        gid: Some(gid),
    })
    .is_ok()
}

/// This process's effective user id; `None` without `/proc`.
pub(super) fn our_uid() -> Option<u32> {
    field(&self_status()?, "Uid:").get(1)?.parse().ok()
}

/// A file's owner, group and permission bits: who may read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Access {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// Whether the file as it is (`old`) may be rewritten as `new` without
/// anyone gaining what it holds: a merge keeps every other profile, so
/// whoever may read the result must have been able to read the file
/// already. Otherwise anyone who can rename a file into the directory (the
/// `--owner` user in its own home, any user in a shared one) could put a
/// root-only file there and have root's next write hand it over, to the
/// owner or to everyone `--mode` lets read. A file's owner can always read
/// it (it may chmod it), and root reads everything. A file readable by all
/// may go anywhere.
///
/// `mode_given`: the mode is `--mode`'s, not the one kept from the file.
pub(super) fn no_new_readers(old: Access, new: Access, mode_given: bool) -> Result<(), String> {
    let mode = |m: u32| match mode_given {
        true => format!("--mode {:04o}", m & 0o777),
        false => format!("keeping its mode {:04o}", m & 0o777),
    };
    // Readable by others but not by its group keeps the group out: only
    // both bits make it everyone's. Kept exactly as it is (0604 kept 0604),
    // it gains no one.
    let readers = |a: Access| (a.uid, a.gid, a.mode & 0o044);
    if old.mode & 0o044 == 0o044 || readers(old) == readers(new) {
        return Ok(());
    }
    if new.mode & 0o004 != 0 {
        return Err(format!(
            "its mode {:04o} keeps it from some users, and {} would let every user read what it holds; chmod it to {:04o} first if that is meant, or remove it",
            old.mode & 0o777,
            mode(new.mode),
            new.mode & 0o777
        ));
    }
    if new.mode & 0o040 != 0 && (old.mode & 0o040 == 0 || old.gid != new.gid) {
        return Err(format!(
            "group {} may not read it now (it is {}:{} mode {:04o}), and {} would let that group read what it holds; {} first if that group is meant to, or remove it (writers sharing a file need the same --mode and --owner)",
            new.gid,
            old.uid,
            old.gid,
            old.mode & 0o777,
            mode(new.mode),
            match old.gid == new.gid {
                true => "chmod g+r it".to_string(),
                false => format!("chgrp {} and chmod g+r it", new.gid),
            }
        ));
    }
    if new.uid != 0 && new.uid != old.uid {
        return Err(format!(
            "it belongs to uid {}, and giving it to uid {} would hand that user what it holds; chown {} it first if it is that user's, or remove it",
            old.uid, new.uid, new.uid
        ));
    }
    Ok(())
}

/// Whether an existing credentials file may be merged into and rewritten:
/// not writable by group or others (whoever can write it can add a profile
/// whose `credential_process` the app would run), and owned by this user or
/// by the `--owner` it is written for (a file another user made in a shared
/// directory may hold such a profile, for this user's tools to run).
pub(super) fn trusted(uid: u32, mode: u32, owner: Option<Owner>) -> Result<(), String> {
    if mode & 0o022 != 0 {
        return Err(format!(
            "it is writable by group or others (mode {:04o}), so anyone could add a profile the app would use; chmod go-w it, or remove it",
            mode & 0o7777
        ));
    }
    let ours = our_uid();
    if ours.is_some_and(|us| us != uid) && owner.map(|o| o.uid) != Some(uid) {
        // `--owner` is a remedy only where this process may give files away.
        let remedy = match may_chown(Owner { uid, gid: None }) {
            Ok(()) => format!("give --owner {uid} if the file is written for that user"),
            Err(_) => format!(
                "run aws-credfile as uid {uid} if the file is that user's (or give the run that wrote it, as root, --owner {})",
                ours.unwrap_or_default()
            ),
        };
        return Err(format!(
            "it belongs to uid {uid}, neither this user (uid {}) nor --owner, so it may hold profiles this user's tools would run; {remedy}, or remove it",
            ours.unwrap_or_default()
        ));
    }
    Ok(())
}

/// Whether the file may be kept in a directory owned by `uid`: root's, this
/// user's or `--owner`'s. Whoever owns the directory can replace the file
/// with one of their own, whatever its mode and the sticky bit, and the app
/// would then run on their keys. (Group and others writing it, as in an
/// `emptyDir`, is the pod's own business, and left to the README's advice.)
pub(super) fn trusted_dir(uid: u32, owner: Option<Owner>) -> Result<(), String> {
    if ours_roots_or_owners(uid, owner) {
        return Ok(());
    }
    let mapped = is_mapped(uid);
    // `--owner` is a remedy only for a user this process may give files to.
    let remedy = match mapped && may_chown(Owner { uid, gid: None }).is_ok() {
        true => format!(", or give --owner {uid} if the file is that user's"),
        false => String::new(),
    };
    Err(format!(
        "the directory it is in belongs to uid {uid}{}, who could put their own file in its place; keep it in a directory root or this user owns{remedy}",
        if mapped { "" } else { " (outside this user namespace)" }
    ))
}

/// Whether `uid` is root, this user or `--owner`: the users a directory or
/// lock may belong to. Without `/proc` (this user unknown), taken to be.
fn ours_roots_or_owners(uid: u32, owner: Option<Owner>) -> bool {
    uid == 0 || our_uid().is_none_or(|us| us == uid) || owner.map(|o| o.uid) == Some(uid)
}

/// Whether the directories above the file's may belong to `uids`: root,
/// this user, `--owner`, or (in a user namespace) users outside it, as the
/// host's root shows there. Another user owning one could move the file's
/// directory away and put one of their own in its place.
pub(super) fn trusted_above(uids: &[u32], owner: Option<Owner>) -> Result<(), String> {
    match uids
        .iter()
        .find(|&&uid| !ours_roots_or_owners(uid, owner) && is_mapped(uid))
    {
        None => Ok(()),
        Some(uid) => Err(format!(
            "a directory above it belongs to uid {uid}, who could put their own directory in its place; keep it under directories root or this user owns (or --owner's, given)"
        )),
    }
}

/// Whether `uid` is a user of this process's user namespace: one outside
/// it shows as the overflow uid (65534) and can be given nothing. Without
/// `/proc`, taken to be.
fn is_mapped(uid: u32) -> bool {
    in_map("/proc/self/uid_map", uid)
}

/// Whether `id` is inside one of the ranges of `map` (`uid_map`, `gid_map`).
fn in_map(map: &str, id: u32) -> bool {
    let Ok(map) = std::fs::read_to_string(map) else {
        return true;
    };
    map.lines().any(|line| {
        let n: Vec<u64> = line
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        matches!(n[..], [inside, _, count, ..] if (inside..inside + count).contains(&u64::from(id)))
    })
}

/// Whether a lock file owned by `uid` may be used: this user's, root's or
/// `--owner`'s. One another user made first (in a shared, sticky
/// directory) is theirs to hold for good, and every write would wait for
/// it and fail.
pub(super) fn trusted_lock(uid: u32, owner: Option<Owner>) -> Result<(), String> {
    if !ours_roots_or_owners(uid, owner) {
        return Err(format!(
            "it belongs to uid {uid}, neither this user (uid {}), root nor --owner, so that user could hold it and stop every write; remove it",
            our_uid().unwrap_or_default()
        ));
    }
    Ok(())
}

/// Whether this process may give a file to `owner`, read from
/// `/proc/self/status` (no unsafe code needed): another user needs
/// `CAP_CHOWN`, and so does a group that is neither ours nor one of our
/// supplementary ones. Otherwise every write would fail after a fetch, and
/// the daemon would call STS again and again for nothing. Without
/// `/proc`, left to the write.
pub(super) fn may_chown(owner: Owner) -> Result<(), String> {
    let Some(status) = self_status() else {
        return Ok(());
    };
    if !is_mapped(owner.uid) || owner.gid.is_some_and(|g| !in_map("/proc/self/gid_map", g)) {
        return Err(format!(
            "{}{} is outside this user namespace; give one of its users",
            owner.uid,
            owner.gid.map(|g| format!(":{g}")).unwrap_or_default()
        ));
    }
    let field = |name: &str| field(&status, name);
    let euid = field("Uid:").get(1).and_then(|v| v.parse::<u32>().ok());
    let egid = field("Gid:").get(1).and_then(|v| v.parse::<u32>().ok());
    let groups: Vec<u32> = field("Groups:")
        .iter()
        .filter_map(|g| g.parse().ok())
        .collect();
    let cap_chown = field("CapEff:")
        .first()
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .is_some_and(|caps| caps & 1 != 0);
    let needs_for_uid = euid.is_some_and(|e| e != owner.uid);
    let needs_for_gid = owner
        .gid
        .is_some_and(|g| egid != Some(g) && !groups.contains(&g));
    if (needs_for_uid || needs_for_gid) && !cap_chown {
        return Err(format!(
            "giving the file to {}{} needs root or the CAP_CHOWN capability (or, for a group alone, being in it), which this process lacks",
            owner.uid,
            owner.gid.map(|g| format!(":{g}")).unwrap_or_default()
        ));
    }
    Ok(())
}
