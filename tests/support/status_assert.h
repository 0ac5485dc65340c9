// ASSERT_OK(expr): fails the test with the Status text unless `expr` is an OK grove::Status.
#pragma once

#include <gtest/gtest.h>

#include "common/status.h"

#define ASSERT_OK(expr)                                                  \
  do {                                                                   \
    const ::grove::Status assert_ok_status_ = (expr);                    \
    ASSERT_TRUE(assert_ok_status_.ok()) << assert_ok_status_.ToString(); \
  } while (0)
