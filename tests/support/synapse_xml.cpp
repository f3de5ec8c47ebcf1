#include "support/synapse_xml.hpp"

#include <array>

namespace depsync::testing {
namespace {

constexpr std::array<std::string_view, 24> nouns{
    "Orders",    "Payments", "Customers", "Inventory", "Shipping", "Billing", "Invoices",  "Accounts",
    "Claims",    "Policies", "Quotes",    "Refunds",   "Returns",  "Catalog", "Pricing",   "Loyalty",
    "Suppliers", "Ledger",   "Tickets",   "Bookings",  "Fleet",    "Payroll", "Contracts", "Alerts"};

constexpr std::array<std::string_view, 32> words{
    "order",   "customer", "status",  "region",   "amount",  "currency", "tenant",  "channel",
    "retry",   "timeout",  "backend", "payload",  "routing", "priority", "batch",   "partner",
    "account", "invoice",  "ledger",  "shipment", "quote",   "discount", "session", "audit",
    "token",   "scope",    "trace",   "queue",    "journal", "ticket",   "branch",  "profile"};

constexpr std::string_view synapse_ns = R"( xmlns="http://ws.apache.org/ns/synapse")";

enum class Filler { mediator, parameter, property, entry, query, user_property };

struct Skeleton {
    std::string open;
    std::string close;
    Filler filler;
    int indent;
};

std::string_view word(Rng& rng) {
    return words[rng() % words.size()];
}

Skeleton skeleton_for(XmlKind kind, const std::string& n) {
    const std::string ns(synapse_ns);
    switch (kind) {
        case XmlKind::synapse:
            return {"<definitions" + ns + ">\n    <sequence name=\"" + n + "Init\">\n",
                    "    </sequence>\n</definitions>\n", Filler::mediator, 8};
        case XmlKind::registry:
            return {"<registry" + ns +
                        " provider=\"org.wso2.micro.integrator.registry.MicroIntegratorRegistry\">\n",
                    "</registry>\n", Filler::parameter, 4};
        case XmlKind::sequence:
            return {"<sequence name=\"" + n + "\" trace=\"disable\"" + ns + ">\n", "</sequence>\n",
                    Filler::mediator, 4};
        case XmlKind::api:
            return {
                "<api context=\"/" + n + "\" name=\"" + n + "\"" + ns +
                    ">\n    <resource methods=\"GET POST\" uri-template=\"/{id}\">\n        <inSequence>\n",
                "        </inSequence>\n        <outSequence>\n            <send/>\n        </outSequence>\n"
                "        <faultSequence/>\n    </resource>\n</api>\n",
                Filler::mediator, 12};
        case XmlKind::endpoint:
            return {"<endpoint name=\"" + n + "\"" + ns +
                        ">\n    <address uri=\"https://backend.example.com/" + n +
                        "\">\n        <suspendOnFailure>\n            <initialDuration>-1</initialDuration>\n"
                        "        </suspendOnFailure>\n    </address>\n",
                    "</endpoint>\n", Filler::property, 4};
        case XmlKind::proxy:
            return {
                "<proxy name=\"" + n + "\" startOnLoad=\"true\" transports=\"http https\"" + ns +
                    ">\n    <target>\n        <inSequence>\n",
                "        </inSequence>\n        <outSequence>\n            <send/>\n        </outSequence>\n"
                "    </target>\n</proxy>\n",
                Filler::mediator, 12};
        case XmlKind::local_entry:
            return {"<localEntry key=\"" + n + "\"" + ns + ">\n    <config xmlns=\"\">\n",
                    "    </config>\n</localEntry>\n", Filler::entry, 8};
        case XmlKind::inbound:
            return {"<inboundEndpoint name=\"" + n +
                        "\" protocol=\"http\" sequence=\"main\" onError=\"fault\"" + ns +
                        ">\n    <parameters>\n",
                    "    </parameters>\n</inboundEndpoint>\n", Filler::parameter, 8};
        case XmlKind::message_store:
            return {"<messageStore name=\"" + n +
                        "\" class=\"org.apache.synapse.message.store.impl.jms.JmsStore\"" + ns + ">\n",
                    "</messageStore>\n", Filler::parameter, 4};
        case XmlKind::message_processor:
            return {"<messageProcessor name=\"" + n +
                        "\" class=\"org.apache.synapse.message.processor.impl.forwarder."
                        "ScheduledMessageForwardingProcessor\" messageStore=\"" +
                        n + "Store\"" + ns + ">\n",
                    "</messageProcessor>\n", Filler::parameter, 4};
        case XmlKind::task:
            return {"<task name=\"" + n +
                        "\" class=\"org.apache.synapse.startup.tasks.MessageInjector\" "
                        "group=\"synapse.simple.quartz\"" +
                        ns + ">\n    <trigger interval=\"60\"/>\n",
                    "</task>\n", Filler::property, 4};
        case XmlKind::template_:
            return {
                "<template name=\"" + n + "\"" + ns + ">\n    <parameter name=\"target\"/>\n    <sequence>\n",
                "    </sequence>\n</template>\n", Filler::mediator, 8};
        case XmlKind::dataservice:
            return {"<data name=\"" + n +
                        "\" transports=\"http https\">\n    <config id=\"default\">\n"
                        "        <property name=\"driverClassName\">org.h2.Driver</property>\n"
                        "        <property name=\"url\">jdbc:h2:mem:" +
                        n + "</property>\n    </config>\n",
                    "</data>\n", Filler::query, 4};
        case XmlKind::userstore:
            return {
                "<UserStoreManager class=\"org.wso2.carbon.user.core.jdbc.UniqueIDJDBCUserStoreManager\">\n"
                "    <Property name=\"DomainName\">" +
                    n + "</Property>\n",
                "</UserStoreManager>\n", Filler::user_property, 4};
    }
    return {"<unknown>\n", "</unknown>\n", Filler::property, 4};
}

std::string filler_line(Filler filler, Rng& rng, std::size_t n) {
    const std::string w1(word(rng)), w2(word(rng)), number = std::to_string(n), token = random_token(rng, 12);
    switch (filler) {
        case Filler::mediator:
            switch (rng() % 3) {
                case 0:
                    return "<log level=\"custom\"><property name=\"" + w1 + "\" value=\"" + w2 + " " + token +
                           "\"/></log>";
                case 1:
                    return "<property name=\"" + w1 + "_" + number +
                           "\" scope=\"default\" type=\"STRING\" value=\"" + w2 + "-" + token + "\"/>";
                default:
                    return "<header name=\"X-" + w1 + "-" + w2 + "\" scope=\"transport\" value=\"" + token +
                           "\"/>";
            }
        case Filler::parameter:
            return "<parameter name=\"" + w1 + "." + w2 + "." + number + "\">" + token + "</parameter>";
        case Filler::property:
            return "<property name=\"" + w1 + "_" + number + "\" value=\"" + w2 + "-" + token + "\"/>";
        case Filler::entry:
            return "<entry key=\"" + w1 + "." + number + "\" value=\"" + w2 + ":" + token + "\"/>";
        case Filler::query:
            return "<query id=\"select_" + w1 + "_" + number + "\" useConfig=\"default\"><sql>SELECT " + w2 +
                   " FROM " + w1 + " WHERE id = '" + token + "'</sql></query>";
        case Filler::user_property:
            return "<Property name=\"" + w1 + w2 + number + "\">" + token + "</Property>";
    }
    return {};
}

}  // namespace

std::string make_xml_artifact(XmlKind kind, std::string_view name, std::size_t target_bytes, Rng& rng) {
    const Skeleton skeleton = skeleton_for(kind, std::string(name));
    std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + skeleton.open;
    const std::string indent(static_cast<std::size_t>(skeleton.indent), ' ');
    for (std::size_t n = 0; xml.size() + skeleton.close.size() < target_bytes; ++n)
        xml += indent + filler_line(skeleton.filler, rng, n) + "\n";
    return xml + skeleton.close;
}

std::string_view business_noun(std::size_t index) {
    return nouns[index % nouns.size()];
}

std::size_t business_noun_count() {
    return nouns.size();
}

}  // namespace depsync::testing
