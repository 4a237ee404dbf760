#!/bin/sh
# The core layer (kadmit_core) takes bytes and returns bytes: it must not reach libmicrohttpd,
# sockets or TLS sessions. Fails when `nm -u` on the library names any of them.
# usage: core_symbols.sh path/to/libkadmit_core.a
set -eu
lib="$1"
undefined="$(nm -u "$lib" | awk 'NF { print $NF }' | sort -u)"
# nm must have read the library: the core calls malloc.
echo "$undefined" | grep -qx malloc || {
    echo "core_symbols: nm -u $lib lists no malloc; cannot judge" >&2
    exit 1
}
bad="$(echo "$undefined" | grep -E '^(MHD_|mbedtls_net_|mbedtls_ssl_)|^(socket|bind|listen|accept|accept4|connect|send|sendto|sendmsg|recv|recvfrom|recvmsg|setsockopt|getsockopt|getaddrinfo|shutdown|poll|epoll_[a-z_]+|select)$' || true)"
if [ -n "$bad" ]; then
    echo "core_symbols: kadmit_core uses server-layer symbols (move the caller to kadmit_server):" >&2
    echo "$bad" | sed 's/^/  /' >&2
    exit 1
fi
echo "core_symbols: $(echo "$undefined" | wc -l) undefined symbols, none from libmicrohttpd, sockets or TLS"
