// A gtest fixture for tests against a real PostgreSQL (test_postgres.h): one server for the whole
// suite (initdb takes a second), a fresh database for each test (url_), and the server started
// again before a test when an earlier one stopped it.
//
// kFsync false: commits are not flushed to disk, which is much faster with a database per test;
// a clean Stop/Start still keeps every commit. Suites that test durability across a crash of the
// server itself use kFsync true.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/test_postgres.h"

namespace grove::testing {

template <bool kFsync = false>
class PostgresTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = std::make_unique<TestPostgres>(TestPostgres::Options{.fsync = kFsync});
  }
  static void TearDownTestSuite() { pg_.reset(); }

  // Derived fixtures that override SetUp call this first and return on HasFatalFailure().
  void SetUp() override {
    ASSERT_TRUE(pg_->ok()) << pg_->error();
    if (!pg_->running()) {
      ASSERT_TRUE(pg_->Start()) << pg_->error();
    }
    url_ = pg_->NewDatabase();
    ASSERT_FALSE(url_.empty()) << pg_->error();
  }

  inline static std::unique_ptr<TestPostgres> pg_;
  std::string url_;  // this test's own database
};

}  // namespace grove::testing
