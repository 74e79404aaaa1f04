#!/bin/sh
# Runs "$@" only inside a sealed namespace: not the test's own network namespace, no default route and no
# gateway (IPv4 or IPv6, any table), no interface but lo and azmi-emulator run's black hole, whose peer must be
# down. Every test that dials 169.254.169.254 or an Azure name goes through here first.
set -eu
fail() {
  echo "vm-guard: refusing to run: $*" >&2
  exit 99
}
[ -n "${VM_GUARD_HOST_NETNS:-}" ] || fail "VM_GUARD_HOST_NETNS is not set"
[ "$(readlink /proc/self/ns/net)" != "$VM_GUARD_HOST_NETNS" ] || fail "this is the test's own network namespace"
for family in -4 -6; do
  routes=$(ip "$family" route show table all)
  if printf '%s\n' "$routes" | grep -q '^default'; then fail "a default route ($family)"; fi
  if printf '%s\n' "$routes" | grep -q ' via '; then fail "a gateway ($family)"; fi
done
for link in $(ip -o link show | awk -F': ' '{ print $2 }' | cut -d@ -f1); do
  case "$link" in
    lo | azmi-imds) ;;
    azmi-void)
      if ip -o link show azmi-void | grep -q '[<,]UP[,>]'; then fail "azmi-void is up"; fi
      ;;
    *) fail "interface $link" ;;
  esac
done
exec "$@"
