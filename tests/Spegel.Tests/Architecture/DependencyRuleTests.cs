using Mono.Cecil;

namespace Spegel.Tests.Architecture;

/// <summary>
/// The dependency rules of docs/architecture.md, checked on the compiled assemblies and the sources' <c>using</c>
/// lines: every arrow between rooms (namespaces) runs down the picture below, except the known debts, which name
/// the step that removes them and can only go.
/// </summary>
public sealed class DependencyRuleTests
{
    /// <summary>
    /// Which room of the product may use which (the picture; it must have no circle). Top down: Program → Cli →
    /// Hosting (composition root, and the hosts it wires) → Registry (the miss chain) → Mirroring, Coalescing,
    /// Advertising → Routing, Store → Oci; Containerd and MirrorConfig are adapters only the top knows (MirrorConfig
    /// writes through the library's Libp2p.Files); Telemetry (instruments the host injects) and the root
    /// (BuildInfo) are leaves.
    /// </summary>
    private static readonly Dictionary<string, string[]> ProductMayUse = new()
    {
        ["Program"] = ["Cli"],
        ["Cli"] = ["Hosting", "Registry", "Mirroring", "MirrorConfig", "Routing", "Oci", "Libp2p", "Spegel"],
        ["Hosting"] = ["Registry", "Mirroring", "Coalescing", "Advertising", "Containerd", "MirrorConfig", "Routing", "Store", "Telemetry", "Timing", "Oci", "Libp2p", "Spegel"],
        ["Registry"] = ["Mirroring", "Coalescing", "Routing", "Store", "Telemetry", "Timing", "Oci"],
        ["Mirroring"] = ["Routing", "Store", "Telemetry", "Timing", "Oci"],
        ["Coalescing"] = ["Routing", "Store", "Telemetry", "Timing", "Oci"],
        ["Advertising"] = ["Routing", "Store", "Telemetry", "Timing", "Oci"],
        ["Containerd"] = ["Store", "Timing", "Oci"],
        ["MirrorConfig"] = ["Oci", "Libp2p.Files"],
        ["Routing"] = ["Libp2p", "Timing", "Oci", "Spegel"],
        ["Timing"] = [],
        ["Store"] = ["Oci"],
        ["Telemetry"] = [],
        ["Spegel"] = [],
        ["Oci"] = [],
        ["Libp2p"] = [],
        ["Libp2p.Files"] = [],
    };

    /// <summary>Back-up arrows that other steps of issue 10 remove. Only ever delete from this list.</summary>
    private static readonly KnownDebt[] ProductDebt =
    [
    ];

    /// <summary>
    /// The libp2p library, bottom up: Protos, Primitives (encodings), Files (atomic writes) → Crypto (keys) → Streams → Pnet (the private
    /// network's layer), Security (Noise, multistream), Muxing (yamux) → Transport (the host) → Protocols (identify,
    /// ping) → Kademlia.
    /// </summary>
    private static readonly Dictionary<string, string[]> Libp2pMayUse = new()
    {
        ["Kademlia"] = ["Protocols", "Transport", "Pnet", "Security", "Muxing", "Streams", "Crypto", "Primitives", "Protos"],
        ["Protocols"] = ["Transport", "Pnet", "Security", "Muxing", "Streams", "Crypto", "Primitives", "Protos"],
        ["Transport"] = ["Pnet", "Security", "Muxing", "Streams", "Crypto", "Primitives", "Protos"],
        ["Security"] = ["Streams", "Crypto", "Primitives", "Protos"],
        ["Pnet"] = ["Streams"],
        ["Muxing"] = ["Streams", "Primitives"],
        ["Streams"] = [],
        ["Crypto"] = ["Files", "Primitives", "Protos"],
        ["Files"] = [],
        ["Primitives"] = [],
        ["Protos"] = [],
    };

    private static readonly KnownDebt[] Libp2pDebt =
    [
        // Not scheduled: the host builds identify and ping in its constructor and dispatches to them, and they take the
        // whole host back (Libp2pHost ⇄ IdentifyService, PingService). Breaking it needs a protocol-registration seam on
        // the host; docs/architecture.md lists it with the library's other known loops.
        new("Spegel.Libp2p.Transport.Libp2pHost", "Protocols", "builds and dispatches to IdentifyService and PingService"),
    ];

    private static readonly DependencyPicture Product = new(ProductMayUse, ProductRoom, ProductDebt);

    private static readonly DependencyPicture Libp2p = new(Libp2pMayUse, Libp2pRoom, Libp2pDebt);

    private static readonly Lazy<IReadOnlyList<RoomDependency>> ProductDependencies = new(() =>
        Product.Dependencies(TypeDependencies.Read(typeof(Spegel.Hosting.RegistryApp).Assembly.Location), SourceUsings.Read(RepositoryFiles.Path("src", "Spegel"))));

    private static readonly Lazy<IReadOnlyList<RoomDependency>> Libp2pDependencies = new(() =>
        Libp2p.Dependencies(TypeDependencies.Read(Libp2pAssembly), SourceUsings.Read(RepositoryFiles.Path("src", "Spegel.Libp2p"))));

    private static string Libp2pAssembly => typeof(Spegel.Libp2p.Transport.Libp2pHost).Assembly.Location;

    [Fact]
    public void ProductDependenciesRunDown() => AssertRunsDown(Product, ProductDependencies.Value);

    [Fact]
    public void Libp2pDependenciesRunDown() => AssertRunsDown(Libp2p, Libp2pDependencies.Value);

    /// <summary>"Spegel.Libp2p knows no product type": no reference to the product's assembly, type or namespace.</summary>
    [Fact]
    public void Libp2pKnowsNoProductType()
    {
        using var module = ModuleDefinition.ReadModule(Libp2pAssembly);
        string product = typeof(Spegel.Hosting.RegistryApp).Assembly.GetName().Name!;
        Assert.DoesNotContain(module.AssemblyReferences, r => r.Name == product);
        Assert.Empty(Libp2pDependencies.Value.Where(d => d.ToRoom == ProductOutsideLibp2p).Select(d => d.ToString()));
    }

    /// <summary>The debug page and what feeds it read the router's snapshot, never the libp2p host or the DHT.</summary>
    [Fact]
    public void TheDebugPageReadsTheRoutersSnapshot()
    {
        string[] debug = ["Spegel.Hosting.DebugPage", "Spegel.Hosting.DebugSources"];
        Assert.Empty(ProductDependencies.Value.Where(d => debug.Contains(d.FromType) && d.ToRoom == "Libp2p").Select(d => d.ToString()));
        Assert.Contains(ProductDependencies.Value, d => d.FromType == "Spegel.Hosting.DebugPage" && d.To == "Spegel.Routing.RouterSnapshot"); // positive control
    }

    /// <summary>The pictures run one way, place every room the code has, and debts are only for what they forbid.</summary>
    [Fact]
    public void ThePicturesHaveNoCircleAndPlaceEveryRoom()
    {
        foreach (var (picture, dependencies) in new[] { (Product, ProductDependencies.Value), (Libp2p, Libp2pDependencies.Value) })
        {
            Assert.Null(picture.Circle());
            var rooms = dependencies.SelectMany(d => new[] { d.FromRoom, d.ToRoom }).Where(r => r != ProductOutsideLibp2p).Distinct();
            var unplaced = rooms.Where(r => !picture.MayUse.ContainsKey(r)).ToList();
            Assert.True(unplaced.Count == 0, "Rooms the picture does not place: " + string.Join(", ", unplaced));
            var allowedAnyway = picture.Debt.Where(d => !picture.MayUse.ContainsKey(d.ToRoom)
                || picture.BackUp([new RoomDependency(picture.RoomOf(Namespace(d.FromType), d.FromType)!, d.ToRoom, d.FromType, "?", "?")]).Count == 0).ToList();
            Assert.True(allowedAnyway.Count == 0, "Debts for arrows the picture allows: " + string.Join(", ", allowedAnyway));
        }
    }

    /// <summary>A debt whose arrow is gone must be deleted from the list, so the list only shrinks.</summary>
    [Fact]
    public void EveryKnownDebtIsStillOwed()
    {
        foreach (var (picture, dependencies) in new[] { (Product, ProductDependencies.Value), (Libp2p, Libp2pDependencies.Value) })
        {
            var backUp = picture.BackUp(dependencies);
            var paid = picture.Debt.Where(d => !backUp.Any(b => b.FromType == d.FromType && b.ToRoom == d.ToRoom)).ToList();
            Assert.True(paid.Count == 0, "Paid debts, delete them from the list: " + string.Join(", ", paid.Select(d => $"{d.FromType} → {d.ToRoom}")));
        }
    }

    private static void AssertRunsDown(DependencyPicture picture, IReadOnlyList<RoomDependency> dependencies)
    {
        Assert.NotEmpty(dependencies); // positive control: the reader found the arrows that are allowed too
        var unpaid = picture.BackUp(dependencies).Where(d => !picture.IsKnownDebt(d)).Select(d => d.ToString()).Distinct().Order(StringComparer.Ordinal).ToList();
        Assert.True(unpaid.Count == 0, "Dependencies that run back up (see the rules in docs/architecture.md):\n" + string.Join('\n', unpaid));
    }

    private const string ProductOutsideLibp2p = "(the product)";

    /// <summary>
    /// Spegel.X.… is room X; Spegel itself (BuildInfo) is Spegel; the top-level statements are Program. The library's
    /// Files folder (atomic file writes, no dependency) is a room of its own, so MirrorConfig may use it and nothing
    /// else of the library.
    /// </summary>
    private static string? ProductRoom(string @namespace, string fullName) => @namespace switch
    {
        "" => fullName == "Program" ? "Program" : null,
        "Spegel" => "Spegel",
        "Spegel.Libp2p" => "Libp2p",
        "Spegel.Libp2p.Files" => "Libp2p.Files",
        _ when @namespace.StartsWith("Spegel.Libp2p.", StringComparison.Ordinal) => "Libp2p",
        _ when @namespace.StartsWith("Spegel.", StringComparison.Ordinal) => @namespace.Split('.')[1],
        _ => null,
    };

    /// <summary>Spegel.Libp2p.X.… is room X; anything else under Spegel is the product, which the library must not know.</summary>
    private static string? Libp2pRoom(string @namespace, string fullName) => @namespace switch
    {
        _ when @namespace.StartsWith("Spegel.Libp2p.", StringComparison.Ordinal) => @namespace.Split('.')[2],
        "Spegel.Libp2p" => "Libp2p",
        "Spegel" => ProductOutsideLibp2p,
        _ when @namespace.StartsWith("Spegel.", StringComparison.Ordinal) => ProductOutsideLibp2p,
        _ => null,
    };

    private static string Namespace(string fullName) => fullName[..fullName.LastIndexOf('.')];

    /// <summary>
    /// Metrics are injected, never global: no type of Telemetry (or anywhere in the product) keeps instruments or the
    /// recent-requests ring in a static field, so each node (and each test) counts its own.
    /// </summary>
    [Fact]
    public void MetricsHaveNoStaticState()
    {
        var product = typeof(Spegel.Telemetry.SpegelInstruments).Assembly;
        var statics = product.GetTypes()
            .SelectMany(t => t.GetFields(System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.DeclaredOnly))
            .Where(f => !f.IsLiteral && (f.FieldType.Namespace == "Prometheus" || f.FieldType == typeof(Spegel.Telemetry.RecentRequests) || f.FieldType == typeof(Spegel.Telemetry.SpegelInstruments)))
            .Select(f => $"{f.DeclaringType}.{f.Name}")
            .ToList();
        Assert.Empty(statics);

        // Positive control: the check sees instance fields of those types (so an empty result is not blindness).
        Assert.Contains(typeof(Spegel.Mirroring.MirrorStats).GetFields(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic), f => f.FieldType == typeof(Spegel.Telemetry.SpegelInstruments));
    }
}
