#!/usr/bin/perl
# Parses a Pandora FMS agent data file the way the data server does
# (DataServer.pm: XMLin($file, forcearray => 'module')) and prints the result as
# canonical JSON on stdout.
#
# Usage: pandora_parse.pl FILE
# Exit codes: 0 parsed, 1 usage, 2 XMLin failed (Pandora would retry, then rename the
# file to *_BADXML), 3 XML::Simple is not installed (Debian: libxml-simple-perl).
# XML_SIMPLE_PREFERRED_PARSER (read by XML::Simple itself) picks the SAX backend.
use strict;
use warnings;
use JSON::PP;

BEGIN {
    unless (eval { require XML::Simple; 1 }) {
        print STDERR "Perl module XML::Simple is missing (Debian package libxml-simple-perl): $@";
        exit 3;
    }
}

my $file = shift @ARGV;
unless (defined $file && !@ARGV) {
    print STDERR "usage: $0 FILE\n";
    exit 1;
}

my $data = eval { XML::Simple::XMLin($file, forcearray => 'module') };
unless (defined $data) {
    my $error = $@ || 'XMLin returned nothing';
    print STDERR "XMLin failed on $file: $error";
    exit 2;
}

print JSON::PP->new->utf8->canonical->pretty->encode($data);
