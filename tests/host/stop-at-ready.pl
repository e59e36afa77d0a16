#!/usr/bin/perl
# stop-at-ready.pl SIG CMD ARGS...: runs CMD with fd 3 the write end of a
# full pipe, so that its --ready-fd byte blocks; once CMD sits in that
# write, sends it SIG and only then lets the byte through. A stop that
# lands between "ready" and the tool's main loop, every time. Exits with
# CMD's status (128 + signal if a signal ended it).
use strict;
use warnings;
use Fcntl qw(F_GETFL F_SETFL F_SETFD O_NONBLOCK);
use POSIX qw(dup2 _exit);
use Time::HiRes qw(sleep);

my $sig = shift or die "usage: stop-at-ready.pl SIG CMD ARGS...\n";
pipe(my $r, my $w) or die "pipe: $!\n";
my $fl = fcntl($w, F_GETFL, 0);
fcntl($w, F_SETFL, $fl | O_NONBLOCK);
1 while syswrite($w, "x" x 4096);
1 while syswrite($w, "x");
fcntl($w, F_SETFL, $fl);

my $pid = fork() // die "fork: $!\n";
if (!$pid) {
	close $r;
	dup2(fileno($w), 3) // _exit(126);
	exec @ARGV or do { warn "exec $ARGV[0]: $!\n"; _exit(127) };
}
close $w;

# /proc/PID/syscall: "1 0x3 ..." while the child is blocked in write(3, ...)
my $blocked = 0;
for (1 .. 600) {
	open(my $f, '<', "/proc/$pid/syscall") or last;
	my $line = <$f> // '';
	close $f;
	if ($line =~ /^1 0x3 /) { $blocked = 1; last }
	last if waitpid($pid, POSIX::WNOHANG()) == $pid;
	sleep 0.1;
}
die "stop-at-ready.pl: $ARGV[0] never wrote to fd 3\n" unless $blocked;
kill $sig, $pid;
# the handler has run by the time the write returns: drain, then wait
my $buf;
1 while sysread($r, $buf, 65536) > 0;
waitpid($pid, 0);
exit($? & 127 ? 128 + ($? & 127) : $? >> 8);
