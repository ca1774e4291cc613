"""The wire protocol: link secret, key schedule, sealed records, manifest, ranges,
progress record, chunk layout and the test vectors that pin them."""
