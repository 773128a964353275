// Pipeline layer (producer, consumer, coordinator) is built here.
namespace claimcheck::pipeline_detail { int placeholder = 0; }
