# Shared by the scripts in this folder: dependency install and build.
# Source it; it defines functions only.

EBATS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian 12 packages ebats needs to build, test and run locally.
EBATS_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librabbitmq-dev prometheus-cpp-dev libabsl-dev libsqlite3-dev libssl-dev
  nlohmann-json3-dev libspdlog-dev libcli11-dev libgtest-dev libgmock-dev libjemalloc-dev
  rabbitmq-server curl openssl clang libclang-rt-14-dev
)

# Installs whatever of EBATS_PACKAGES is missing (needs root and apt).
ebats_install_deps() {
  local missing=()
  local pkg
  for pkg in "${EBATS_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  echo "ebats: installing ${missing[*]}" >&2
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  # Keep Debian's rabbitmq-server from starting a system-wide node: ebats
  # starts its own, on its own ports.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    local remove_policy=1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  if [[ -n ${remove_policy:-} ]]; then $sudo rm -f /usr/sbin/policy-rc.d; fi
}

# ebats_build DIR [cmake args...]: configures (once) and builds into DIR.
ebats_build() {
  local dir="$1"
  shift
  if [[ ! -f "$dir/build.ninja" ]]; then
    cmake -S "$EBATS_ROOT" -B "$dir" -G Ninja "$@" >/dev/null
  fi
  cmake --build "$dir" -- -j"$(nproc)"
}
