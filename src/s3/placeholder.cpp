namespace claimcheck::s3_detail { int placeholder = 0; }
