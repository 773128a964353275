namespace claimcheck::amqp_detail { int placeholder = 0; }
