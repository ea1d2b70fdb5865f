//! The few GSS-API calls Hadoop's SASL GSSAPI needs, from MIT Kerberos's
//! `libgssapi_krb5.so.2` loaded at run time.
//!
//! Loaded, not linked: the binary then starts on hosts without Kerberos libraries, and
//! only a secure cluster needs them (hdfs-native, which we use for HDFS, does the same).
//! The types follow RFC 2744's C bindings; only what is called here is declared.

use std::ffi::c_void;
use std::os::raw::{c_char, c_int};
use std::sync::OnceLock;

pub type OmUint32 = u32;

/// `gss_buffer_desc`.
#[repr(C)]
pub struct Buffer {
    pub length: usize,
    pub value: *mut c_void,
}

impl Buffer {
    pub const EMPTY: Buffer = Buffer {
        length: 0,
        value: std::ptr::null_mut(),
    };

    /// A buffer viewing `bytes` (the library only reads input buffers).
    pub fn view(bytes: &[u8]) -> Buffer {
        Buffer {
            length: bytes.len(),
            value: bytes.as_ptr() as *mut c_void,
        }
    }
}

/// `gss_OID_desc`.
#[repr(C)]
pub struct Oid {
    pub length: OmUint32,
    pub elements: *const c_void,
}

/// `gss_OID_set_desc`.
#[repr(C)]
pub struct OidSet {
    pub count: usize,
    pub elements: *mut Oid,
}

/// `gss_key_value_element_desc`, for `gss_acquire_cred_from`'s credential store.
#[repr(C)]
pub struct KeyValue {
    pub key: *const c_char,
    pub value: *const c_char,
}

/// `gss_key_value_set_desc`.
#[repr(C)]
pub struct KeyValueSet {
    pub count: OmUint32,
    pub elements: *const KeyValue,
}

pub type Name = *mut c_void;
pub type Ctx = *mut c_void;
pub type Cred = *mut c_void;

pub const S_COMPLETE: OmUint32 = 0;
pub const S_CONTINUE_NEEDED: OmUint32 = 1;
pub const C_MUTUAL_FLAG: OmUint32 = 2;
pub const C_REPLAY_FLAG: OmUint32 = 4;
pub const C_SEQUENCE_FLAG: OmUint32 = 8;
pub const C_CONF_FLAG: OmUint32 = 16;
pub const C_INTEG_FLAG: OmUint32 = 32;
pub const C_INDEFINITE: OmUint32 = 0xffff_ffff;
pub const C_INITIATE: c_int = 1;
pub const C_GSS_CODE: c_int = 1;
pub const C_MECH_CODE: c_int = 2;

/// True when `major` reports a calling or routine error (RFC 2744 `GSS_ERROR`).
pub fn is_error(major: OmUint32) -> bool {
    major & 0xffff_0000 != 0
}

/// 1.2.840.113554.1.2.2: the Kerberos 5 mechanism.
pub const KRB5_MECH: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";
/// 1.2.840.113554.1.2.2.1: a name in Kerberos principal syntax (`svc/host@REALM`).
pub const KRB5_PRINCIPAL_NAME: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";

/// An OID over static bytes.
pub fn oid(bytes: &'static [u8]) -> Oid {
    Oid {
        length: bytes.len() as OmUint32,
        elements: bytes.as_ptr() as *const c_void,
    }
}

type ImportName = unsafe extern "C" fn(*mut OmUint32, *mut Buffer, *mut Oid, *mut Name) -> OmUint32;
type ReleaseName = unsafe extern "C" fn(*mut OmUint32, *mut Name) -> OmUint32;
type DisplayName =
    unsafe extern "C" fn(*mut OmUint32, Name, *mut Buffer, *mut *mut Oid) -> OmUint32;
type InitSecContext = unsafe extern "C" fn(
    *mut OmUint32,
    Cred,
    *mut Ctx,
    Name,
    *mut Oid,
    OmUint32,
    OmUint32,
    *mut c_void,
    *mut Buffer,
    *mut *mut Oid,
    *mut Buffer,
    *mut OmUint32,
    *mut OmUint32,
) -> OmUint32;
type DeleteSecContext = unsafe extern "C" fn(*mut OmUint32, *mut Ctx, *mut Buffer) -> OmUint32;
type Wrap = unsafe extern "C" fn(
    *mut OmUint32,
    Ctx,
    c_int,
    OmUint32,
    *mut Buffer,
    *mut c_int,
    *mut Buffer,
) -> OmUint32;
type Unwrap = unsafe extern "C" fn(
    *mut OmUint32,
    Ctx,
    *mut Buffer,
    *mut Buffer,
    *mut c_int,
    *mut OmUint32,
) -> OmUint32;
type ReleaseBuffer = unsafe extern "C" fn(*mut OmUint32, *mut Buffer) -> OmUint32;
type DisplayStatus = unsafe extern "C" fn(
    *mut OmUint32,
    OmUint32,
    c_int,
    *mut Oid,
    *mut OmUint32,
    *mut Buffer,
) -> OmUint32;
type AcquireCredFrom = unsafe extern "C" fn(
    *mut OmUint32,
    Name,
    OmUint32,
    *mut OidSet,
    c_int,
    *const KeyValueSet,
    *mut Cred,
    *mut *mut OidSet,
    *mut OmUint32,
) -> OmUint32;
type InquireCred = unsafe extern "C" fn(
    *mut OmUint32,
    Cred,
    *mut Name,
    *mut OmUint32,
    *mut c_int,
    *mut *mut OidSet,
) -> OmUint32;
type ReleaseCred = unsafe extern "C" fn(*mut OmUint32, *mut Cred) -> OmUint32;

/// The library's entry points.
pub struct Gss {
    pub import_name: ImportName,
    pub release_name: ReleaseName,
    pub display_name: DisplayName,
    pub init_sec_context: InitSecContext,
    pub delete_sec_context: DeleteSecContext,
    pub wrap: Wrap,
    pub unwrap: Unwrap,
    pub release_buffer: ReleaseBuffer,
    pub display_status: DisplayStatus,
    pub acquire_cred_from: AcquireCredFrom,
    pub inquire_cred: InquireCred,
    pub release_cred: ReleaseCred,
    /// Kept loaded for the life of the process: the pointers above point into it.
    _lib: libloading::Library,
}

const LIBRARY: &str = "libgssapi_krb5.so.2";

/// The loaded library, or why it could not be loaded (once per process).
pub fn gss() -> Result<&'static Gss, String> {
    static GSS: OnceLock<Result<Gss, String>> = OnceLock::new();
    GSS.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Gss, String> {
    let no_lib = |e: libloading::Error| {
        format!(
            "cannot load {LIBRARY} ({e}): a Kerberos cluster needs MIT Kerberos's GSS-API \
             library (Debian/Ubuntu: libgssapi-krb5-2, RHEL: krb5-libs)"
        )
    };
    // SAFETY: loading MIT's library runs only its own initialisers.
    let lib = unsafe { libloading::Library::new(LIBRARY) }.map_err(no_lib)?;
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the declared types match RFC 2744 and MIT's gssapi_ext.h.
            *unsafe { lib.get(concat!($name, "\0").as_bytes()) }.map_err(no_lib)?
        };
    }
    Ok(Gss {
        import_name: sym!("gss_import_name"),
        release_name: sym!("gss_release_name"),
        display_name: sym!("gss_display_name"),
        init_sec_context: sym!("gss_init_sec_context"),
        delete_sec_context: sym!("gss_delete_sec_context"),
        wrap: sym!("gss_wrap"),
        unwrap: sym!("gss_unwrap"),
        release_buffer: sym!("gss_release_buffer"),
        display_status: sym!("gss_display_status"),
        acquire_cred_from: sym!("gss_acquire_cred_from"),
        inquire_cred: sym!("gss_inquire_cred"),
        release_cred: sym!("gss_release_cred"),
        _lib: lib,
    })
}
