#!/usr/bin/perl
# Tells which file names Pandora FMS's data server would queue, using its own pattern
# (DataServer.pm data_producer: /^(.*)[\._]\d+\.data$/), and the lock key it would take.
#
# Usage: pandora_spool_match.pl NAME...
# Prints one line per name: "match KEY" or "skip".
use strict;
use warnings;

for my $name (@ARGV) {
    if ($name =~ /^(.*)[\._]\d+\.data$/) {
        print "match $1\n";
    } else {
        print "skip\n";
    }
}
