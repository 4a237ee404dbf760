#include "kadmit/error.h"

const char *ka_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case KA_ENOMEM:
        return "out of memory";
    case KA_EINVAL:
        return "invalid argument";
    case KA_ELIMIT:
        return "limit exceeded";
    case KA_EIO:
        return "input/output error";
    case KA_ENOTFOUND:
        return "not found";
    case KA_EINTERNAL:
        return "internal error";
    case KA_EPARSE:
        return "malformed JSON or YAML";
    case KA_EDEPTH:
        return "nesting too deep";
    case KA_ETYPE:
        return "wrong type";
    case KA_EPOLICY:
        return "invalid policy";
    case KA_EREVIEW:
        return "not an AdmissionReview";
    case KA_EPATCH:
        return "patch error";
    case KA_ETLS:
        return "TLS error";
    case KA_ENET:
        return "network error";
    case KA_EWOULDBLOCK:
        return "would block";
    case KA_EATTEST:
        return "invalid attestation";
    case KA_EVERIFY:
        return "signature does not verify";
    case KA_ECERT:
        return "certificate error";
    default:
        return "unknown error";
    }
}
