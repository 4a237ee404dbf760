# Loopback TCP ports for the test scripts (source it; bash).
#   free_port    prints a port below the kernel's ephemeral range (outgoing connections never
#                take it) that no TCP socket has as its local port and that no earlier free_port
#                of this run handed out (remembered in $KA_PORTS_FILE: set it to a file in your
#                temporary directory when you take several ports before binding any).
#                A collision at bind time anyway (another process racing) is the caller's to retry.
#   port_bound P true when some TCP socket (any state) has P as its local port
read -r KA_EPHEMERAL_LOW _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || KA_EPHEMERAL_LOW=32768
KA_PORT_LOW=10000
KA_PORT_HIGH=$((KA_EPHEMERAL_LOW - 1))
[ "$KA_PORT_HIGH" -gt $((KA_PORT_LOW + 1000)) ] || { KA_PORT_LOW=20000; KA_PORT_HIGH=60000; }

port_bound() {
  local hex
  hex=$(printf '%04X' "$1")
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    awk -v h=":$hex" 'NR > 1 && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }'
}

free_port() {
  local p i file=${KA_PORTS_FILE:-/dev/null}
  for i in $(seq 1 200); do
    p=$((KA_PORT_LOW + (RANDOM * 32768 + RANDOM) % (KA_PORT_HIGH - KA_PORT_LOW)))
    grep -qx "$p" "$file" 2>/dev/null && continue
    port_bound "$p" && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
    [ "$file" = /dev/null ] || echo "$p" >>"$file"
    echo "$p"
    return 0
  done
  echo "free_port: no free port" >&2
  return 1
}
