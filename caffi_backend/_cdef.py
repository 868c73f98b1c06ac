"""The C declarations the cffi backend uses, and the module they compile to.

Each declaration mirrors the C one in cadef.h, db_access.h or epicsTime.h (the
C spelling is given in a comment where the cffi one differs); only what the
backend calls is declared.

Parsing them (pycparser) is most of what importing the backend would cost,
so ``setup.py`` compiles them once, at install, into ``_ffi_compiled.py``:
cffi's out-of-line ABI mode, a pure Python module of pre-parsed type tables
(no compiler involved).  ``_ffi`` uses it when its ``CDEF_CRC`` matches
these texts and parses them otherwise (a checkout with edited declarations,
a cffi that cannot read the module).
"""

from __future__ import annotations

import zlib
from typing import Dict, Tuple

_LIBCA_TEMPLATE = r"""
/* ---- epicsTypes.h / db_access.h scalar types ---------------------------- */
typedef char           dbr_string_t[40];      /* epicsOldString */
typedef uint8_t        dbr_char_t;            /* epicsUInt8 */
typedef int16_t        dbr_short_t;           /* epicsInt16 */
typedef uint16_t       dbr_ushort_t;          /* epicsUInt16 */
typedef uint16_t       dbr_enum_t;            /* epicsUInt16 */
typedef int32_t        dbr_long_t;            /* epicsInt32 */
typedef float          dbr_float_t;           /* epicsFloat32 */
typedef double         dbr_double_t;          /* epicsFloat64 */

/* epicsTime.h */
typedef struct epicsTimeStamp {
    uint32_t secPastEpoch;                    /* seconds since 1990-01-01 UTC */
    uint32_t nsec;
} epicsTimeStamp;

/* ---- db_access.h value structures (MAX_UNITS_SIZE 8,
        MAX_ENUM_STATES 16, MAX_ENUM_STRING_SIZE 26) ------------------------ */
struct dbr_sts_string  { dbr_short_t status; dbr_short_t severity; dbr_string_t value; };
struct dbr_stsack_string {
    dbr_ushort_t status; dbr_ushort_t severity;
    dbr_ushort_t ackt;   dbr_ushort_t acks;
    dbr_string_t value;
};
struct dbr_sts_short   { dbr_short_t status; dbr_short_t severity; dbr_short_t value; };
struct dbr_sts_float   { dbr_short_t status; dbr_short_t severity; dbr_float_t value; };
struct dbr_sts_enum    { dbr_short_t status; dbr_short_t severity; dbr_enum_t value; };
struct dbr_sts_char    { dbr_short_t status; dbr_short_t severity;
                         dbr_char_t RISC_pad; dbr_char_t value; };
struct dbr_sts_long    { dbr_short_t status; dbr_short_t severity; dbr_long_t value; };
struct dbr_sts_double  { dbr_short_t status; dbr_short_t severity;
                         dbr_long_t RISC_pad; dbr_double_t value; };

struct dbr_time_string { dbr_short_t status; dbr_short_t severity;
                         epicsTimeStamp stamp; dbr_string_t value; };
struct dbr_time_short  { dbr_short_t status; dbr_short_t severity;
                         epicsTimeStamp stamp; dbr_short_t RISC_pad; dbr_short_t value; };
struct dbr_time_float  { dbr_short_t status; dbr_short_t severity;
                         epicsTimeStamp stamp; dbr_float_t value; };
struct dbr_time_enum   { dbr_short_t status; dbr_short_t severity;
                         epicsTimeStamp stamp; dbr_short_t RISC_pad; dbr_enum_t value; };
struct dbr_time_char   { dbr_short_t status; dbr_short_t severity; epicsTimeStamp stamp;
                         dbr_short_t RISC_pad0; dbr_char_t RISC_pad1; dbr_char_t value; };
struct dbr_time_long   { dbr_short_t status; dbr_short_t severity;
                         epicsTimeStamp stamp; dbr_long_t value; };
struct dbr_time_double { dbr_short_t status; dbr_short_t severity;
                         epicsTimeStamp stamp; dbr_long_t RISC_pad; dbr_double_t value; };

/* DBR_GR_STRING and DBR_CTRL_STRING use struct dbr_sts_string */
struct dbr_gr_short {
    dbr_short_t status; dbr_short_t severity; char units[8];
    dbr_short_t upper_disp_limit;  dbr_short_t lower_disp_limit;
    dbr_short_t upper_alarm_limit; dbr_short_t upper_warning_limit;
    dbr_short_t lower_warning_limit; dbr_short_t lower_alarm_limit;
    dbr_short_t value;
};
struct dbr_gr_float {
    dbr_short_t status; dbr_short_t severity;
    dbr_short_t precision; dbr_short_t RISC_pad0; char units[8];
    dbr_float_t upper_disp_limit;  dbr_float_t lower_disp_limit;
    dbr_float_t upper_alarm_limit; dbr_float_t upper_warning_limit;
    dbr_float_t lower_warning_limit; dbr_float_t lower_alarm_limit;
    dbr_float_t value;
};
struct dbr_gr_enum {
    dbr_short_t status; dbr_short_t severity; dbr_short_t no_str;
    char strs[16][26];
    dbr_enum_t value;
};
struct dbr_gr_char {
    dbr_short_t status; dbr_short_t severity; char units[8];
    dbr_char_t upper_disp_limit;  dbr_char_t lower_disp_limit;
    dbr_char_t upper_alarm_limit; dbr_char_t upper_warning_limit;
    dbr_char_t lower_warning_limit; dbr_char_t lower_alarm_limit;
    dbr_char_t RISC_pad; dbr_char_t value;
};
struct dbr_gr_long {
    dbr_short_t status; dbr_short_t severity; char units[8];
    dbr_long_t upper_disp_limit;  dbr_long_t lower_disp_limit;
    dbr_long_t upper_alarm_limit; dbr_long_t upper_warning_limit;
    dbr_long_t lower_warning_limit; dbr_long_t lower_alarm_limit;
    dbr_long_t value;
};
struct dbr_gr_double {
    dbr_short_t status; dbr_short_t severity;
    dbr_short_t precision; dbr_short_t RISC_pad0; char units[8];
    dbr_double_t upper_disp_limit;  dbr_double_t lower_disp_limit;
    dbr_double_t upper_alarm_limit; dbr_double_t upper_warning_limit;
    dbr_double_t lower_warning_limit; dbr_double_t lower_alarm_limit;
    dbr_double_t value;
};

struct dbr_ctrl_short {
    dbr_short_t status; dbr_short_t severity; char units[8];
    dbr_short_t upper_disp_limit;  dbr_short_t lower_disp_limit;
    dbr_short_t upper_alarm_limit; dbr_short_t upper_warning_limit;
    dbr_short_t lower_warning_limit; dbr_short_t lower_alarm_limit;
    dbr_short_t upper_ctrl_limit; dbr_short_t lower_ctrl_limit;
    dbr_short_t value;
};
struct dbr_ctrl_float {
    dbr_short_t status; dbr_short_t severity;
    dbr_short_t precision; dbr_short_t RISC_pad; char units[8];
    dbr_float_t upper_disp_limit;  dbr_float_t lower_disp_limit;
    dbr_float_t upper_alarm_limit; dbr_float_t upper_warning_limit;
    dbr_float_t lower_warning_limit; dbr_float_t lower_alarm_limit;
    dbr_float_t upper_ctrl_limit; dbr_float_t lower_ctrl_limit;
    dbr_float_t value;
};
struct dbr_ctrl_enum {
    dbr_short_t status; dbr_short_t severity; dbr_short_t no_str;
    char strs[16][26];
    dbr_enum_t value;
};
struct dbr_ctrl_char {
    dbr_short_t status; dbr_short_t severity; char units[8];
    dbr_char_t upper_disp_limit;  dbr_char_t lower_disp_limit;
    dbr_char_t upper_alarm_limit; dbr_char_t upper_warning_limit;
    dbr_char_t lower_warning_limit; dbr_char_t lower_alarm_limit;
    dbr_char_t upper_ctrl_limit; dbr_char_t lower_ctrl_limit;
    dbr_char_t RISC_pad; dbr_char_t value;
};
struct dbr_ctrl_long {
    dbr_short_t status; dbr_short_t severity; char units[8];
    dbr_long_t upper_disp_limit;  dbr_long_t lower_disp_limit;
    dbr_long_t upper_alarm_limit; dbr_long_t upper_warning_limit;
    dbr_long_t lower_warning_limit; dbr_long_t lower_alarm_limit;
    dbr_long_t upper_ctrl_limit; dbr_long_t lower_ctrl_limit;
    dbr_long_t value;
};
struct dbr_ctrl_double {
    dbr_short_t status; dbr_short_t severity;
    dbr_short_t precision; dbr_short_t RISC_pad0; char units[8];
    dbr_double_t upper_disp_limit;  dbr_double_t lower_disp_limit;
    dbr_double_t upper_alarm_limit; dbr_double_t upper_warning_limit;
    dbr_double_t lower_warning_limit; dbr_double_t lower_alarm_limit;
    dbr_double_t upper_ctrl_limit; dbr_double_t lower_ctrl_limit;
    dbr_double_t value;
};

/* ---- cadef.h ------------------------------------------------------------ */
typedef struct oldChannelNotify *chid;
typedef struct oldSubscription *evid;
typedef unsigned CA_SYNC_GID;
struct ca_client_context;

struct connection_handler_args {
    chid chid;
    long op;                                  /* CA_OP_CONN_UP or CA_OP_CONN_DOWN */
};

/* C: struct access_rights_handler_args { chanId chid; caar ar; } where caar
   is struct { unsigned read_access:1; unsigned write_access:1; }.  The bit
   field struct is declared as its storage unit, an unsigned, because libffi
   cannot pass a struct with bit fields by value; channel.py picks the bits. */
struct access_rights_handler_args {
    chid chid;
    unsigned ar;
};

struct event_handler_args {
    void *usr;
    chid chid;
    long type;
    long count;
    const void *dbr;
    int status;
};

/* Our usr of a channel, a request or a subscription is an integer key
   (channel.py, getput.py), not a pointer, so it is declared as intptr_t
   wherever it passes: every ABI we run on passes and lays out intptr_t as
   it does void *, and cffi then hands a Python int over and back with no
   cast on either side (the C backend's usr is the object itself).  Answers
   and events get struct event_handler_args with usr as a key; the
   exception handler's usr is never set and stays void *. */
struct request_handler_args {                 /* struct event_handler_args */
    intptr_t usr;
    chid chid;
    long type;
    long count;
    const void *dbr;
    int status;
};
%(answer_views)s
struct exception_handler_args {
    void *usr;
    chid chid;
    long type;
    long count;
    void *addr;
    long stat;
    long op;
    const char *ctx;
    const char *pFile;
    unsigned lineNo;
};

/* context.  A context is known here by its address, the key of every
   record of it (context.py, iowait.py), never dereferenced: declared as
   uintptr_t (passed as the pointer is on every ABI we run on), so that
   cffi gives and takes a Python int and no call converts one. */
int ca_context_create(int select);            /* enum ca_preemptive_callback_select */
void ca_context_destroy(void);
int ca_attach_context(uintptr_t context);     /* C: struct ca_client_context * */
void ca_detach_context(void);
uintptr_t ca_current_context(void);           /* C: struct ca_client_context * */
int ca_client_status(unsigned level);
int ca_context_status(uintptr_t context,      /* C: struct ca_client_context * */
                      unsigned level);

/* channel; caCh is void (struct connection_handler_args), caArh is
   void (struct access_rights_handler_args), capri is unsigned */
int ca_create_channel(const char *pChanName,
                      void (*pConnStateCallback)(struct connection_handler_args),
                      intptr_t pUserPrivate,           /* C: void * */
                      unsigned priority, chid *pChanID);
int ca_clear_channel(chid chanId);
int ca_replace_access_rights_event(chid chan,
                                   void (*pfunc)(struct access_rights_handler_args));
intptr_t ca_puser(chid chan);                 /* C: void * */

/* information */
short ca_field_type(chid chan);
unsigned long ca_element_count(chid chan);
int ca_state(chid chan);                      /* enum channel_state */
unsigned ca_get_host_name(chid pChan, char *pBuf, unsigned bufLength);
unsigned ca_read_access(chid chan);
unsigned ca_write_access(chid chan);
const char *ca_message(long ca_status);
const char *ca_version(void);

/* read, write, monitor; chtype is long, caEventCallBackFunc is
   void (struct event_handler_args).  Left out on purpose: ca_array_get and
   ca_sg_array_get copy as many elements as the server sends into a buffer
   sized for the count asked; ca_sg_test takes libca's locks in the order
   that deadlocks with the receive thread (so groups count their own
   requests, ca_sg_array_put included). */
int ca_array_get_callback(long type, unsigned long count, chid chanId,
                          void (*pFunc)(struct request_handler_args),
                          intptr_t pArg);                 /* C: void * */
int ca_array_put(long type, unsigned long count, chid chanId, const void *pValue);
int ca_array_put_callback(long type, unsigned long count, chid chanId,
                          const void *pValue,
                          void (*pFunc)(struct request_handler_args),
                          intptr_t pArg);                 /* C: void * */
int ca_create_subscription(long type, unsigned long count, chid chanId,
                           long mask, void (*pFunc)(struct request_handler_args),
                           intptr_t pArg, evid *pEventID);  /* C: void * */
int ca_clear_subscription(evid eventID);

/* execution; ca_real is double */
int ca_pend_event(double timeout);
int ca_pend_io(double timeout);
int ca_flush_io(void);
int ca_preemtive_callback_is_enabled(void);

/* synchronous groups */
int ca_sg_create(CA_SYNC_GID *pgid);
int ca_sg_delete(const CA_SYNC_GID gid);
int ca_sg_block(const CA_SYNC_GID gid, double timeout);
int ca_sg_reset(const CA_SYNC_GID gid);

/* handlers; caExceptionHandler is void (struct exception_handler_args).
   caPrintfFunc is int (const char *pformat, va_list args): a va_list
   parameter reaches the callee as a pointer on every ABI we run on (an
   array type decaying to a pointer on x86-64 SysV, a pointer to the
   caller's copy of the >16-byte struct on AArch64, char * on Windows and
   Apple), so it is declared as void * and handed on unchanged to the C
   library's vsnprintf, declared the same way below. */
int ca_add_exception_event(void (*pfunc)(struct exception_handler_args), void *pArg);
int ca_replace_printf_handler(int (*ca_printf_func)(const char *pformat, void *args));
"""

#: The value kinds of db_access.h in their DBR order (DBR_STRING is 0,
#: DBR_DOUBLE 6): ``dbr_<kind>_t`` is each one's C type, ``struct
#: dbr_<family>_<kind>`` its structures.
VALUE_KINDS = ('string', 'short', 'float', 'enum', 'char', 'long', 'double')


def _answer_views() -> Dict[str, Tuple[str, str]]:
    """DBR name -> (``answer_<type>``, the C type of its value): the answer
    or event of that request type as libca passes it (struct
    event_handler_args, usr as a key) with ``dbr`` pointing to the type's
    own C value, for the plain and TIME types.  getput.py registers its
    handlers once per view, so that a handler reads a scalar or a TIME
    structure straight from ``args.dbr``: through cffi a cast of the
    untyped pointer is 2,000 of the 12,700 instructions of a scalar
    event's handler (callgrind)."""
    views: Dict[str, Tuple[str, str]] = {}
    for kind in VALUE_KINDS:
        views[kind.upper()] = ('answer_' + kind, 'dbr_%s_t' % kind)
        views['TIME_' + kind.upper()] = ('answer_time_' + kind, 'struct dbr_time_' + kind)
    return views


_VIEWS = _answer_views()
#: The name of a DBR type (a member of ``DBR``) -> its answer view's type.
ANSWER_VIEWS = {dbr_name: 'struct ' + view for dbr_name, (view, _) in _VIEWS.items()}
LIBCA_CDEF = _LIBCA_TEMPLATE % {'answer_views': ''.join(
    'struct %s {    /* struct event_handler_args */\n'
    '    intptr_t usr; chid chid; long type; long count; const %s *dbr; int status;\n'
    '};\n' % view for view in _VIEWS.values())}

# From the C library: formats the messages handed to a printf handler.
LIBC_CDEF = """
int vsnprintf(char *str, size_t size, const char *format, void *ap);
int fflush(void *stream);   /* FILE *; only ever called with NULL (all streams) */
void _exit(int status);
void *memcpy(void *dest, const void *src, size_t n);
void *memset(void *s, int c, size_t n);
int on_exit(void (*function)(int, void *), void *arg);   /* glibc */
"""


def cdef_crc() -> int:
    """A checksum of the declarations, written into the compiled module."""
    return zlib.crc32((LIBCA_CDEF + LIBC_CDEF).encode())


def write_compiled(path: str) -> None:
    """Write the out-of-line ABI module of the declarations to *path*."""
    import cffi
    builder = cffi.FFI()
    builder.cdef(LIBCA_CDEF)
    builder.cdef(LIBC_CDEF)
    builder.set_source('caffi_backend._ffi_compiled', None)
    builder.emit_python_code(path)
    with open(path, 'a') as out:
        out.write('\n# The declarations this was compiled from (caffi_backend._cdef).\n'
                  'CDEF_CRC = %d\n' % cdef_crc())
