#!/bin/bash
# The fault shim itself, before the campaigns trust it: it counts matching
# calls, fails exactly the Nth with the errno asked for (once or from N
# on), only under its path and only in the process it was meant for (not
# in a child that inherits LD_PRELOAD, nor in another program), reports
# writes outside the allowed places, and its durability audit flags a
# rename of unsynced data and a directory never synced — and stays quiet
# when both were synced, or when an unsynced file was given up.
. "$(dirname "$0")/lib.sh"
SHIM=$SP_BUILD/tests/faultshim.so
[ -f "$SHIM" ] || { say "no fault shim"; exit 77; }
command -v python3 >/dev/null || { say "no python3"; exit 77; }
# The shim picks its process by the name of its executable.
py=$(python3 -c 'import os; print(os.path.basename(os.readlink("/proc/self/exe")))')

# A small program that writes N files in $1, with fsync when $2 = sync.
cat >w.py <<'EOF'
import os, sys
d, mode = sys.argv[1], sys.argv[2]
for i in range(int(sys.argv[3])):
    fd = os.open(f"{d}/.f{i}.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"x" * 100)
    if mode == "sync":
        os.fsync(fd)
    os.close(fd)
    os.rename(f"{d}/.f{i}.tmp", f"{d}/f{i}")
if mode == "sync":
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(dfd)
    os.close(dfd)
EOF
mkdir d other
shim() { # SP_FAULT command...
	local f=$1
	shift
	LD_PRELOAD=$SHIM SP_FAULT="$f" "$@"
}

shim "count,exe=$py,path=$T/d,report=$T/r1" python3 w.py "$T/d" sync 5
check "a dry run counts the calls under its path" \
	grep -q ' counts write=5 read=0 fsync=5 dirsync=1 rename=5 link=0 open=1 create=5 ' r1

rm -f d/*
shim "op=write,nth=3,errno=ENOSPC,exe=$py,path=$T/d,report=$T/r2" \
	python3 w.py "$T/d" sync 5 2>err.txt
check "the third write fails with ENOSPC" grep -q 'No space left on device' err.txt
check "...and is reported as fired" grep -q 'fired op=write call=write n=3 errno=28 ' r2
check "...after two files were written" test -e d/f1 -a ! -e d/f2

rm -f d/*
shim "op=rename,nth=2,times=0,errno=EIO,exe=$py,path=$T/d,report=$T/r3" \
	python3 -c "
import os
for i in range(4):
    open('$T/d/a%d' % i, 'w').close()
    try:
        os.rename('$T/d/a%d' % i, '$T/d/b%d' % i)
    except OSError as e:
        print(i, e.errno)
" >out.txt
check "from N on: the second rename and every one after fail with EIO" \
	bash -c "[ \"\$(cat out.txt | tr '\n' ' ')\" = '1 5 2 5 3 5 ' ]"

shim "op=create,nth=1,errno=ENOSPC,exe=$py,path=$T/d,report=$T/r4" \
	python3 w.py "$T/other" sync 1
check "outside its path nothing fails" test -e other/f0
check "...nor counts" grep -q ' create=0 ' r4

shim "op=create,nth=1,errno=ENOSPC,exe=$py,path=$T/d,report=$T/r5" \
	bash -c "python3 w.py $T/d sync 1 2>/dev/null; echo > $T/d/from-bash"
check "not in another program (bash)" test -e d/from-bash
check "a child of the process meant passes through" bash -c "
	LD_PRELOAD=$SHIM SP_FAULT='op=create,nth=1,errno=ENOSPC,exe=$py,path=$T/d' python3 -c \"
import os, subprocess
pid = os.fork()
if pid == 0:
    fd = os.open('$T/d/child', os.O_WRONLY | os.O_CREAT, 0o644)
    os._exit(0)
os.waitpid(pid, 0)
\" && test -e $T/d/child"

shim "count,exe=$py,path=$T/d,report=$T/r6,allow=$T/d" python3 w.py "$T/other" sync 1
check "a write outside the allowed places is reported" grep -q " outside call=.*$T/other/.f0.tmp" r6

shim "count,exe=$py,path=$T/d,report=$T/r7,audit=$T/d" python3 w.py "$T/d" sync 3
check "the audit is quiet when data and directory were synced" \
	bash -c "! grep -Eq ' (unsynced|dirty) ' r7"
shim "count,exe=$py,path=$T/d,report=$T/r8,audit=$T/d" python3 w.py "$T/d" nosync 3
check "it reports data renamed into place unsynced" \
	grep -q " unsynced call=rename path=$T/d/.f0.tmp -> $T/d/f0" r8
check "...and the directory left unsynced at exit" grep -q " dirty path=$T/d\$" r8

shim "count,exe=$py,path=$T/d,report=$T/r9,audit=$T/d" python3 -c "
import os
fd = os.open('$T/d/given-up.tmp', os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'x')
os.close(fd)
os.unlink('$T/d/given-up.tmp')
dfd = os.open('$T/d', os.O_RDONLY | os.O_DIRECTORY)
os.fsync(dfd)"
check "...but not a file written and given up (unlinked)" \
	bash -c "! grep -Eq ' (unsynced|dirty) ' r9"

(shim "op=fsync,nth=1,action=kill,exe=$py,path=$T/d" python3 w.py "$T/d" sync 2) 2>/dev/null
check "action=kill: SIGKILL at the Nth call" test $? = 137

check "a bad setting is refused, not ignored" \
	bash -c "LD_PRELOAD=$SHIM SP_FAULT='op=wirte,nth=1,exe=$py' python3 -c 'pass' 2>&1 | grep -q \"bad SP_FAULT op 'wirte'\""
done_testing
