# SPDX-License-Identifier: MIT
# bash completion for kitectl (installed as share/bash-completion/completions/kitectl; or
# `source scripts/kitectl.bash`). Commands, subcommands and options as in `kitectl --help`; VM,
# port and volume names from kited (`kitectl vm list --names`, `dpu port|volume list --names`,
# with the --sock of the command line being completed). Needs no bash-completion helpers.

_kitectl_names() {   # $1..: the list command after kitectl (e.g. vm list)
	local sock=()
	[[ -n $_kitectl_sock ]] && sock=(--sock "$_kitectl_sock")
	kitectl "${sock[@]}" "$@" --names 2>/dev/null
}

_kitectl_reply() {   # COMPREPLY = compgen "$@", one word a line (file names with spaces stay whole)
	mapfile -t COMPREPLY < <(compgen "$@")
}

_kitectl() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local -a pos=()
	local i w opts="" words=""
	_kitectl_sock=""

	# positional words before the cursor, without the global options (and --sock's value)
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		--sock) _kitectl_sock=${COMP_WORDS[i+1]}; ((i++)) ;;
		--sock=*) _kitectl_sock=${w#--sock=} ;;
		--kernel|--initrd|--cmdline|--cpus|--memory|--disk|--volume|--mac|--timeout|--tap|--vlan|--mtu|\
		--disk-backend|--net-backend|--rate-pps|--rate-bps|--size|--image|--iops|--bps|--pin-vcpus|--pin-io|\
		--iothreads|--hugepages) ((i++)) ;;
		-*) ;;
		*) pos+=("$w") ;;
		esac
	done

	case $prev in
	--sock|--kernel|--initrd)
		compopt -o filenames 2>/dev/null   # directories get their '/'
		_kitectl_reply -f -- "$cur"
		return ;;
	--tap)
		_kitectl_reply -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur"
		return ;;
	--volume)
		_kitectl_reply -W "$(_kitectl_names dpu volume list)" -- "$cur"
		return ;;
	--disk-backend|--net-backend)
		_kitectl_reply -W "dpu kite" -- "$cur"
		return ;;
	--iothreads)
		_kitectl_reply -W "on off" -- "$cur"
		return ;;
	--hugepages)
		_kitectl_reply -W "auto on off" -- "$cur"
		return ;;
	--pin-vcpus|--pin-io)   # a host CPU (a list goes on after a comma)
		_kitectl_reply -W "$(seq 0 $(($(getconf _NPROCESSORS_CONF 2>/dev/null || echo 1) - 1)))" -- "$cur"
		return ;;
	--cmdline|--cpus|--memory|--disk|--mac|--timeout|--vlan|--mtu|--rate-pps|--rate-bps|--size|--image|--iops|--bps)
		return ;;
	esac

	local cmd=${pos[0]} sub=${pos[1]} n=${#pos[@]}
	case $cmd in
	"")
		words="vm dpu host raw"; opts="--sock --json --help --version" ;;
	vm)
		case $sub in
		"") words="create list info start pause resume stop delete snapshot restore console" ;;
		create) opts="--kernel --initrd --cmdline --cpus --memory --disk --ephemeral --volume --net --mac --start --disk-backend --net-backend"
			opts="$opts --pin-vcpus --pin-io --iothreads --hugepages" ;;
		list) opts="--names" ;;
		info|start|pause|resume|stop|delete|snapshot|restore|console)
			((n == 2)) && words=$(_kitectl_names vm list)
			[[ $sub == stop ]] && opts="--force --timeout" ;;
		esac ;;
	dpu)
		case $sub in
		"") words="status port volume" ;;
		port)
			case ${pos[2]} in
			"") words="list info add del set acl" ;;
			list) opts="--names" ;;
			add) opts="--tap --vlan --mtu --rate-pps --rate-bps" ;;
			info|del|set|acl)
				((n == 3)) && words=$(_kitectl_names dpu port list)
				[[ ${pos[2]} == set ]] && opts="--vlan --mtu --rate-pps --rate-bps"
				if [[ ${pos[2]} == acl ]]; then
					((n == 4)) && words="add del"
					((n == 5)) && words="in out"
				fi ;;
			esac ;;
		volume)
			case ${pos[2]} in
			"") words="list info add del set" ;;
			list) opts="--names" ;;
			add) opts="--size --image --readonly --iops --bps" ;;
			info|del|set)
				((n == 3)) && words=$(_kitectl_names dpu volume list)
				[[ ${pos[2]} == del ]] && opts="--keep-image"
				[[ ${pos[2]} == set ]] && opts="--iops --bps --size" ;;
			esac ;;
		esac ;;
	raw)
		((n == 1)) && words="GET PUT POST PATCH DELETE"
		((n == 2)) && words="/host /vms /dpu /dpu/ports /dpu/volumes /metrics" ;;
	esac
	if [[ $cur == -* ]]; then
		[[ -n $cmd ]] && opts="$opts --json --sock"
		_kitectl_reply -W "$opts" -- "$cur"
	else
		_kitectl_reply -W "$words" -- "$cur"
	fi
}

complete -F _kitectl kitectl
