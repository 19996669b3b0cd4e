# Helpers shared by scripts/test.sh and bench/ingest/run.sh (sourced, not
# run): free local ports and random credentials for throw-away servers.

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# random_port prints a free port in 20000-40000.
random_port() {
	local i p
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 20001))
		if port_free "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# random_hex prints $1 random bytes as hex.
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
