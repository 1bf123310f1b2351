//! The one POSIX ACL rule the mount keeps: an access ACL is also the file's
//! mode. `cp -a`, `cp -p` and `mv` across file systems copy a file's mode by
//! setting `system.posix_acl_access` on the copy (created 0700 first), so a
//! mount that stored the ACL as a plain attribute left every such copy at
//! 0700. As on ext4, an ACL with only the owner, group and other entries is
//! the mode and is not stored; one with named entries or a mask is stored
//! (the kernel does not enforce it: the mount has no `FUSE_POSIX_ACL`) and
//! sets the mode too, its mask standing for the group bits.

use fuser::Errno;

/// The attribute that holds a file's access ACL.
pub(super) const ACCESS: &[u8] = b"system.posix_acl_access";

/// `POSIX_ACL_XATTR_VERSION`, the header of the attribute's value.
const VERSION: u32 = 2;
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const GROUP: u16 = 0x08;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;

/// What an access ACL means for a file's mode.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct AccessAcl {
    /// The permission bits it gives (`0o777` at most): owner, group (or the
    /// mask), other.
    pub(super) bits: u32,
    /// It says no more than the mode: nothing is stored.
    pub(super) is_mode: bool,
}

/// Reads an access ACL as the kernel hands it over (little-endian version,
/// then entries of tag, permissions and id), checked as the kernel checks
/// one (`posix_acl_valid`): entries in order, the owner, group and other
/// entries exactly once, a mask where there are named entries. Anything
/// else is EINVAL.
pub(super) fn parse(value: &[u8]) -> Result<AccessAcl, Errno> {
    let (head, entries) = value.split_at_checked(4).ok_or(Errno::EINVAL)?;
    if u32::from_le_bytes(head.try_into().expect("4 bytes")) != VERSION
        || entries.is_empty()
        || entries.len() % 8 != 0
    {
        return Err(Errno::EINVAL);
    }
    let (mut user, mut group, mut mask, mut other) = (None, None, None, None);
    let mut named = false;
    let mut last: Option<(u16, u32)> = None;
    for entry in entries.chunks_exact(8) {
        let tag = u16::from_le_bytes([entry[0], entry[1]]);
        let perm = u16::from_le_bytes([entry[2], entry[3]]);
        let id = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
        if perm & !0o7 != 0 {
            return Err(Errno::EINVAL);
        }
        let perm = u32::from(perm);
        // Tags ascend; named users (and groups) ascend by id, each once.
        let key = (tag, if matches!(tag, USER | GROUP) { id } else { 0 });
        if last.is_some_and(|l| l >= key) {
            return Err(Errno::EINVAL);
        }
        last = Some(key);
        match tag {
            USER_OBJ => user = Some(perm),
            GROUP_OBJ => group = Some(perm),
            MASK => mask = Some(perm),
            OTHER => other = Some(perm),
            USER | GROUP => named = true,
            _ => return Err(Errno::EINVAL),
        }
    }
    let (Some(user), Some(group), Some(other)) = (user, group, other) else {
        return Err(Errno::EINVAL);
    };
    if named && mask.is_none() {
        return Err(Errno::EINVAL);
    }
    Ok(AccessAcl {
        bits: user << 6 | mask.unwrap_or(group) << 3 | other,
        is_mode: !named && mask.is_none(),
    })
}

/// An access ACL's value as the kernel hands it over: (tag, permissions,
/// id) entries after the version.
#[cfg(test)]
pub(super) fn encoded(entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut v = VERSION.to_le_bytes().to_vec();
    for &(tag, perm, id) in entries {
        v.extend(tag.to_le_bytes());
        v.extend(perm.to_le_bytes());
        v.extend(id.to_le_bytes());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANY: u32 = u32::MAX;
    use encoded as acl;

    #[test]
    fn a_mode_only_acl_is_the_mode_and_named_entries_need_a_mask() {
        // What `cp -a` sets for a 0755 file.
        let mode = acl(&[(USER_OBJ, 7, ANY), (GROUP_OBJ, 5, ANY), (OTHER, 5, ANY)]);
        assert_eq!(
            parse(&mode),
            Ok(AccessAcl {
                bits: 0o755,
                is_mode: true
            })
        );
        let named = acl(&[
            (USER_OBJ, 6, ANY),
            (USER, 7, 1000),
            (USER, 4, 1001),
            (GROUP_OBJ, 4, ANY),
            (MASK, 5, ANY),
            (OTHER, 0, ANY),
        ]);
        assert_eq!(
            parse(&named),
            Ok(AccessAcl {
                bits: 0o650,
                is_mode: false
            })
        );
        let bad = [
            Vec::new(),
            vec![2, 0, 0],
            acl(&[]),
            // Version 1.
            {
                let mut v = mode.clone();
                v[0] = 1;
                v
            },
            // A torn entry.
            mode[..mode.len() - 1].to_vec(),
            // Out of order, twice, missing other, a bit past rwx, an unknown tag.
            acl(&[(GROUP_OBJ, 5, ANY), (USER_OBJ, 7, ANY), (OTHER, 5, ANY)]),
            acl(&[
                (USER_OBJ, 7, ANY),
                (USER_OBJ, 7, ANY),
                (GROUP_OBJ, 5, ANY),
                (OTHER, 5, ANY),
            ]),
            acl(&[(USER_OBJ, 7, ANY), (GROUP_OBJ, 5, ANY)]),
            acl(&[(USER_OBJ, 8, ANY), (GROUP_OBJ, 5, ANY), (OTHER, 5, ANY)]),
            acl(&[
                (USER_OBJ, 7, ANY),
                (GROUP_OBJ, 5, ANY),
                (OTHER, 5, ANY),
                (0x40, 0, 0),
            ]),
            // A named user twice, and named entries without a mask.
            acl(&[
                (USER_OBJ, 7, ANY),
                (USER, 7, 5),
                (USER, 7, 5),
                (GROUP_OBJ, 5, ANY),
                (MASK, 7, ANY),
                (OTHER, 5, ANY),
            ]),
            acl(&[
                (USER_OBJ, 7, ANY),
                (USER, 7, 5),
                (GROUP_OBJ, 5, ANY),
                (OTHER, 5, ANY),
            ]),
        ];
        for (i, value) in bad.iter().enumerate() {
            assert_eq!(parse(value), Err(Errno::EINVAL), "case {i}");
        }
    }
}
