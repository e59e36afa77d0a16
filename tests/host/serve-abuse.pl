#!/usr/bin/perl
# Hostile and awkward clients for sp-serve's tests (tests/host/serve_hard.bats),
# with nothing but the Perl core:
#   hold SRC DST PORT N SECS [partial|keepalive] [until=K]
#       N TCP connections from address SRC that send nothing (with
#       "partial", the first line of a request and no more; with
#       "keepalive", a request for /f4k, whose reply is read), held SECS
#       seconds, or with until=K only until the server has closed K of
#       them (SECS at most); prints "opened N closed M": M of them the
#       server closed.
#   halfclose DST PORT NAME SIZE N
#       N connections, one at a time, each sending a request for NAME and
#       at once shutdown(SHUT_WR); prints "answered K": K got a whole
#       200 reply with SIZE bytes of body.
#   stall DST PORT NAME N
#       N connections asking for NAME with a small receive buffer and
#       never reading; prints "stalled" and waits to be killed.
#   udp SRC DST PORT ID OFF LEN PAD SECS [VERSION]
#       one REQ (protocol VERSION, default 3, no token) for LEN bytes at
#       OFF of file ID, padded with PAD zero bytes, from SRC, as a request
#       with a forged source would come; counts for SECS seconds what
#       reaches SRC: "sent S got G datagrams D types T,..." (bytes of UDP
#       payload; the message types in the order they came).
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF SHUT_WR pack_sockaddr_in inet_aton);
use Time::HiRes qw(time sleep);

my $cmd = shift // die "usage: see the head of $0\n";

if ($cmd eq 'hold') {
	my ($src, $dst, $port, $n, $secs, @opt) = @ARGV;
	my ($mode, $until);
	for (@opt) {
		if (/^until=(\d+)$/) { $until = $1 } else { $mode = $_ }
	}
	my @socks;
	for (1 .. $n) {
		my $s = IO::Socket::INET->new(LocalAddr => $src, PeerAddr => $dst,
					      PeerPort => $port, Proto => 'tcp')
			or die "connect: $!\n";
		if (($mode // '') eq 'partial') {
			print $s "GET /f4k HTTP/1.1\r\n";
		} elsif (($mode // '') eq 'keepalive') {
			# one whole request and its reply, then nothing
			print $s "GET /f4k HTTP/1.1\r\n\r\n";
			my ($all, $buf) = ('');
			while ($all !~ /\r\n\r\n(.*)/s || length($1) < 4096) {
				sysread($s, $buf, 65536) or die "no reply\n";
				$all .= $buf;
			}
		}
		push @socks, $s;
	}
	# a 503 and its close, or a close: the server let go of it
	my %gone;
	my $end = time + $secs;
	sleep $secs unless defined $until;
	while (1) {
		for my $i (0 .. $#socks) {
			next if $gone{$i};
			$socks[$i]->blocking(0);
			my $buf;
			$gone{$i} = 1 if defined sysread($socks[$i], $buf, 4096);
		}
		last if !defined $until || keys %gone >= $until || time >= $end;
		sleep 0.05;
	}
	print "opened ", scalar(@socks), " closed ", scalar(keys %gone), "\n";
	exit 0;
}

if ($cmd eq 'halfclose') {
	my ($dst, $port, $name, $size, $n) = @ARGV;
	my $ok = 0;
	for (1 .. $n) {
		my $s = IO::Socket::INET->new(PeerAddr => $dst, PeerPort => $port, Proto => 'tcp')
			or die "connect: $!\n";
		print $s "GET /$name HTTP/1.1\r\nHost: x\r\n\r\n";
		$s->shutdown(SHUT_WR);
		my ($all, $buf) = ('');
		while (sysread($s, $buf, 65536)) { $all .= $buf; }
		close $s;
		my ($head, $body) = split /\r\n\r\n/, $all, 2;
		$ok++ if defined $body && $head =~ m{^HTTP/1\.1 200 } && length($body) == $size;
	}
	print "answered $ok\n";
	exit 0;
}

if ($cmd eq 'stall') {
	my ($dst, $port, $name, $n) = @ARGV;
	my @socks;
	for (1 .. $n) {
		# the small buffer before the connection, so the window it
		# offers is small from the first segment and then closes
		my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!\n";
		setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4096) or die "SO_RCVBUF: $!\n";
		$s->connect(pack_sockaddr_in($port, inet_aton($dst))) or die "connect: $!\n";
		print $s "GET /$name HTTP/1.1\r\nHost: x\r\n\r\n";
		push @socks, $s;
	}
	$| = 1;
	print "stalled\n";
	sleep 3600;
	exit 0;
}

if ($cmd eq 'udp') {
	my ($src, $dst, $port, $id, $off, $len, $pad, $secs, $version) = @ARGV;
	my $s = IO::Socket::INET->new(LocalAddr => $src, PeerAddr => $dst, PeerPort => $port,
				      Proto => 'udp') or die "udp: $!\n";
	# struct sp_xmsg: magic, version, type REQ, len 0, req_id, aux (file), offset, length
	my $req = pack('V C C v V V Q< Q<', 0x58505053, $version // 3, 1, 0, 42, $id, $off, $len) .
		("\0" x $pad);
	send($s, $req, 0) or die "send: $!\n";
	my $sel = IO::Select->new($s);
	my ($got, $dgrams, $end, @types) = (0, 0, time + $secs);
	while ((my $left = $end - time) > 0) {
		next unless $sel->can_read($left);
		my $buf;
		defined recv($s, $buf, 65536, 0) or last;
		$got += length $buf;
		$dgrams++;
		push @types, unpack('x5 C', $buf) if length $buf >= 6;
	}
	print "sent ", length($req), " got $got datagrams $dgrams types ", join(',', @types), "\n";
	exit 0;
}

die "unknown command '$cmd'\n";
