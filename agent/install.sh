#!/bin/sh
# Install suanli-agent as a systemd service: user, virtualenv, console script, unit, config, state dir.
#
#   sudo agent/install.sh                 # from a checkout or unpacked sdist; pip installs it into /opt/suanli-agent
#   sudo agent/install.sh --source suanli-0.1.0-py3-none-any.whl
#   sudo agent/install.sh --bin /usr/bin/suanli-agent   # already installed (distribution package): link only
#   agent/install.sh --root /tmp/image --bin ...        # into an image tree; no user, no systemctl
#
# It never starts the agent: enroll first (the script prints how), then `systemctl start suanli-agent`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
root=""
prefix=/opt/suanli-agent
source_spec="$repo"
agent_bin=""
python=${PYTHON:-python3}

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --root) root=$2; shift 2 ;;
        --prefix) prefix=$2; shift 2 ;;
        --source) source_spec=$2; shift 2 ;;
        --bin) agent_bin=$2; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage 2 ;;
    esac
done

say() { printf 'install.sh: %s\n' "$*"; }

# 1. The program: a private virtualenv (the agent's dependencies never touch the system Python),
#    or an existing suanli-agent named with --bin.
if [ -z "$agent_bin" ]; then
    say "creating $root$prefix and installing $source_spec"
    "$python" -m venv "$root$prefix"
    "$root$prefix/bin/pip" install --quiet --upgrade "$source_spec"
    agent_bin="$prefix/bin/suanli-agent"
fi
install -d -m 0755 "$root/usr/local/bin"
ln -sfn "$agent_bin" "$root/usr/local/bin/suanli-agent"

# 2. The service user, declared for systemd-sysusers so images and package managers agree on it.
install -d -m 0755 "$root/usr/lib/sysusers.d"
printf 'u suanli-agent - "suanli agent" /var/lib/suanli-agent\n' > "$root/usr/lib/sysusers.d/suanli-agent.conf"

# 3. The unit and the config (an existing config is kept: reinstalling never loses site settings).
install -d -m 0755 "$root/etc/systemd/system" "$root/etc/suanli"
install -m 0644 "$repo/systemd/suanli-agent.service" "$root/etc/systemd/system/suanli-agent.service"
if [ ! -e "$root/etc/suanli/agent.toml" ]; then
    install -m 0644 "$repo/agent/agent.toml" "$root/etc/suanli/agent.toml"
else
    say "keeping existing $root/etc/suanli/agent.toml"
fi

# 4. The private state dir, so `enroll` can run before the first start of the service.
install -d -m 0700 "$root/var/lib/suanli-agent"

if [ -n "$root" ]; then
    say "installed into $root (no user created, systemd not touched)"
    exit 0
fi

systemd-sysusers /usr/lib/sysusers.d/suanli-agent.conf
chown suanli-agent:suanli-agent /var/lib/suanli-agent
systemctl daemon-reload
systemctl enable suanli-agent.service
say "installed. Next:"
say "  edit /etc/suanli/agent.toml ([location]: province, datacenter, rack)"
say "  sudo -u suanli-agent suanli-agent enroll --server https://CONTROL-PLANE --token TOKEN"
say "  systemctl start suanli-agent && suanli-agent status"
