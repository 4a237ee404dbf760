/*
 * kadmit error codes.
 *
 * Every fallible function returns 0 on success or one of these negative codes. Each module owns a
 * range so a code says where it came from. ka_strerror() gives a short English text.
 */
#ifndef KADMIT_ERROR_H
#define KADMIT_ERROR_H

/* generic */
#define KA_ENOMEM (-0x0001)    /* allocation failed */
#define KA_EINVAL (-0x0002)    /* invalid argument */
#define KA_ELIMIT (-0x0003)    /* a named limit was exceeded */
#define KA_EIO (-0x0004)       /* read or write failed */
#define KA_ENOTFOUND (-0x0005) /* no such file, key or object */
#define KA_EINTERNAL (-0x0006) /* a bug: should never happen */
/* json / yaml parsing: 0x0100 */
#define KA_EPARSE (-0x0101) /* malformed JSON or YAML */
#define KA_EDEPTH (-0x0102) /* nesting deeper than the limit */
#define KA_ETYPE (-0x0103)  /* a field has the wrong type */
/* policy: 0x0200 */
#define KA_EPOLICY (-0x0201) /* policy file is invalid */
/* admission: 0x0300 */
#define KA_EREVIEW (-0x0301) /* body is not an AdmissionReview */
/* patch: 0x0400 */
#define KA_EPATCH (-0x0401) /* patch could not be built */
/* tls / server: 0x0500 */
#define KA_ETLS (-0x0501)        /* TLS setup or handshake failed */
#define KA_ENET (-0x0502)        /* socket error */
#define KA_EWOULDBLOCK (-0x0503) /* not an error: try again later */
/* attestation: 0x0600 */
#define KA_EATTEST (-0x0601) /* attestation invalid */
#define KA_EVERIFY (-0x0602) /* signature does not verify */
/* certificates: 0x0700 */
#define KA_ECERT (-0x0701) /* certificate generation or loading failed */

/** Short description of a KA_E* code (static string, never NULL). */
const char *ka_strerror(int err);

#endif
