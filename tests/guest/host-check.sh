# Sourced by tests that run tests/guest/linux-nvme.sh in a guest
# (tests/guest/run.sh, tests/kvm/run.sh): after the guest is gone, check
# the disk image on the host. The caller defines ok and notok (TAP) and the
# counter failed.

# host_check IMAGE GUEST-OUTPUT WORKDIR [WHAT]: the guest's "# host: ..."
# lines in GUEST-OUTPUT say what to expect: the partition table, a clean
# e2fsck of partition 1, and the checksums of the files it wrote there.
host_check() {
    local img=$1 out=$2 dir=$3 what=${4:-host} part pstart psize p1 files
    part=$(sed -n 's/^# host: part1 \([0-9]*\) \([0-9]*\)$/\1 \2/p' "$out" | tail -n1)
    if [ -z "$part" ] && [ "$failed" -gt 0 ]; then
        echo "# $what checks skipped: the guest did not get as far as partitioning"
        return
    elif [ -z "$part" ]; then
        notok "$what: the guest got as far as partitioning (no '# host: part1' line)"
        return
    fi
    pstart=${part% *} psize=${part#* }
    if sfdisk -d "$img" 2>/dev/null | grep -qE "start= *$pstart, size= *$psize, type="; then
        ok "$what: image has the guest's GPT (partition 1 at sector $pstart, $psize sectors)"
    else
        notok "$what: image has the guest's GPT (partition 1 at sector $pstart, $psize sectors)"
        sfdisk -d "$img" 2>&1 | sed 's/^/#   /'
    fi
    mkdir -p "$dir"
    p1=$dir/p1.img
    dd if="$img" of="$p1" bs=1M iflag=skip_bytes,count_bytes \
        skip=$((pstart * 512)) count=$((psize * 512)) status=none
    if e2fsck -fn "$p1" > "$dir/fsck" 2>&1; then
        ok "$what: e2fsck -fn of partition 1 is clean"
    else
        notok "$what: e2fsck -fn of partition 1 is clean"
        tail -n 20 "$dir/fsck" | sed 's/^/#   /'
    fi
    sed -n 's/^# host: md5 //p' "$out" > "$dir/md5"
    files=$(wc -l < "$dir/md5")
    rm -rf "$dir/x"
    mkdir "$dir/x"
    if [ "$files" -eq 0 ]; then
        notok "$what: the guest got as far as writing files (no '# host: md5' lines)"
    elif debugfs -R "rdump /data $dir/x" "$p1" > "$dir/debugfs" 2>&1 &&
         (cd "$dir/x" && md5sum --quiet -c "$dir/md5") > "$dir/md5.out" 2>&1; then
        ok "$what: the $files files read out of the image match the guest's md5sums"
    else
        notok "$what: the $files files read out of the image match the guest's md5sums"
        cat "$dir/debugfs" "$dir/md5.out" 2>&1 | head -n 20 | sed 's/^/#   /'
    fi
    rm -rf "$p1" "$dir/x"
}
