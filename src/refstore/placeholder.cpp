namespace claimcheck::refstore_detail { int placeholder = 0; }
