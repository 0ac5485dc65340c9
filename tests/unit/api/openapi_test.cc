// schemas/openapi.yaml describes exactly the routes the server serves, and each operation lists
// the errors every client has to expect.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>

#include "api/http_api.h"
#include "api/internal.h"

namespace grove::api {
namespace {

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The routes served without a token or session (http_api.h).
const std::set<std::string> kOpenRoutes = {"GET /healthz",
                                           "GET /metrics",
                                           "GET /",
                                           "GET /app/",
                                           "GET /app/{name}",
                                           "POST /api/v1/sessions",
                                           "DELETE /api/v1/sessions/current"};

class OpenApiTest : public ::testing::Test {
 protected:
  void SetUp() override { doc_ = YAML::LoadFile(GROVE_OPENAPI); }
  YAML::Node doc_;
};

TEST_F(OpenApiTest, IsOpenApi3) {
  ASSERT_TRUE(doc_["openapi"]);
  EXPECT_TRUE(doc_["openapi"].as<std::string>().starts_with("3.0")) << doc_["openapi"];
  EXPECT_TRUE(doc_["components"]["schemas"]["Error"]);
  EXPECT_TRUE(doc_["components"]["securitySchemes"]["bearer"]);
}

TEST_F(OpenApiTest, EveryServedRouteIsDescribedWithItsErrors) {
  const YAML::Node paths = doc_["paths"];
  ASSERT_TRUE(paths && paths.IsMap());
  for (const std::string& route : HttpApi::Routes()) {
    const size_t space = route.find(' ');
    const std::string method = Lower(route.substr(0, space));
    const std::string path = route.substr(space + 1);
    const YAML::Node operation = paths[path][method];
    ASSERT_TRUE(operation && operation.IsMap()) << route << " is missing from openapi.yaml";
    const YAML::Node responses = operation["responses"];
    ASSERT_TRUE(responses && responses.IsMap()) << route;
    // Operations that need no token say so with an empty security list; only these may.
    const YAML::Node security = operation["security"];
    const bool open = security && security.IsSequence() && security.size() == 0;
    if (open) {
      EXPECT_TRUE(kOpenRoutes.contains(route)) << route << " claims to need no token";
    } else {
      EXPECT_FALSE(kOpenRoutes.contains(route)) << route << " needs no token: say security: []";
    }
    if (!open) {
      EXPECT_TRUE(responses["401"]) << route << " does not list 401";
      // Every operation with a path parameter can miss.
      if (path.find('{') != std::string::npos) {
        EXPECT_TRUE(responses["404"]) << route << " does not list 404";
      }
      if (method == "post" || method == "patch") {
        EXPECT_TRUE(responses["400"]) << route << " does not list 400";
        EXPECT_TRUE(responses["413"]) << route << " does not list 413";
      }
    }
    EXPECT_TRUE(operation["operationId"]) << route;
  }
}

TEST_F(OpenApiTest, DescribesNoRouteTheServerLacks) {
  std::set<std::string> served;
  for (const std::string& route : HttpApi::Routes()) served.insert(route);
  for (const auto& path : doc_["paths"]) {
    for (const auto& operation : path.second) {
      std::string method = operation.first.as<std::string>();
      if (method == "parameters" || method == "summary" || method == "description") continue;
      std::transform(method.begin(), method.end(), method.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      const std::string route = method + " " + path.first.as<std::string>();
      EXPECT_TRUE(served.contains(route)) << route << " is in openapi.yaml but not served";
    }
  }
}

TEST_F(OpenApiTest, EveryQueryParameterIsDescribedAndNoOther) {
  for (const internal::Route& route : internal::Routes()) {
    const std::string method = Lower(std::string(route.method));
    const YAML::Node operation = doc_["paths"][std::string(route.pattern)][method];
    ASSERT_TRUE(operation) << route.pattern;
    std::set<std::string> documented;
    if (const YAML::Node parameters = operation["parameters"]) {
      for (const auto& parameter : parameters) {
        if (parameter["in"] && parameter["in"].as<std::string>() == "query") {
          documented.insert(parameter["name"].as<std::string>());
        }
      }
    }
    std::set<std::string> served;
    for (std::string_view name : route.query) {
      // "where.*" takes where.NAME for any NAME: documented as where.FIELD.
      served.insert(name.ends_with(".*") ? std::string(name.substr(0, name.size() - 1)) + "FIELD"
                                         : std::string(name));
    }
    EXPECT_EQ(documented, served) << route.method << " " << route.pattern;
  }
}

TEST_F(OpenApiTest, RefusedTransitionsAndGrantsNameTheRule) {
  const YAML::Node rule =
      doc_["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["rule"];
  ASSERT_TRUE(rule);
  std::set<std::string> rules;
  for (const auto& value : rule["enum"]) rules.insert(value.as<std::string>());
  EXPECT_EQ(rules, (std::set<std::string>{"role", "state", "guard", "rights", "rule"}));
  for (const char* path : {"/api/v1/workspaces/{ws}/records/{id}/transitions",
                           "/api/v1/workspaces/{ws}/records/{id}/rights"}) {
    const YAML::Node responses = doc_["paths"][path]["post"]["responses"];
    ASSERT_TRUE(responses) << path;
    for (const char* status : {"403", "409"}) {
      ASSERT_TRUE(responses[status]) << path << " does not list " << status;
      EXPECT_EQ(responses[status]["$ref"].as<std::string>(), "#/components/responses/Refused")
          << path << " " << status;
    }
  }
}

}  // namespace
}  // namespace grove::api
