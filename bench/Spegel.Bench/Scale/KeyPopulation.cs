using Spegel.Libp2p.Primitives;

namespace Spegel.Bench.Scale;

/// <summary>
/// A cluster's image population and each node's share of it, with Spegel's keys per image: the tag reference, the index,
/// the platform manifest, the config and the layers. A few system images (pause, kube-proxy, CNI, ...) are on every node;
/// every image starts from one of a few shared base layers, the popular ones far more often; the other images are drawn
/// by Zipf popularity, so a few are on most nodes and most on a few. Deterministic for a seed.
/// </summary>
internal sealed class KeyPopulation
{
    /// <summary>Images every node runs (pause, kube-proxy, CNI, CSI, DNS, monitoring agent, log shipper, spegel).</summary>
    public const int SystemImages = 8;

    private readonly Multihash[][] _imageKeys;
    private readonly double[] _cumulative;

    public KeyPopulation(int images, int baseLayers, double zipf, int seed)
    {
        var random = new Random(seed);
        var bases = Enumerable.Range(0, baseLayers).Select(i => Key($"sha256:base-layer-{i:d4}")).ToArray();
        var baseWeights = Cumulative(baseLayers, 1.2);
        _imageKeys = new Multihash[images][];
        for (int i = 0; i < images; i++)
        {
            int layers = random.Next(2, 17); // 2..16, about 9: the base layer and the image's own
            var keys = new List<Multihash>(layers + 4)
            {
                Key($"registry.example.com/team-{i % 97}/app-{i}:v{i % 7}"),
                Key($"sha256:index-{i}"),
                Key($"sha256:manifest-{i}"),
                Key($"sha256:config-{i}"),
                i < SystemImages ? Key("sha256:pause-base-layer") : bases[Pick(baseWeights, random.NextDouble())],
            };
            for (int l = 1; l < layers; l++)
            {
                keys.Add(Key($"sha256:layer-{i}-{l}"));
            }

            _imageKeys[i] = [.. keys];
        }

        // Popularity of the images that are not on every node.
        _cumulative = Cumulative(images - SystemImages, zipf);
        HotKey = _imageKeys[0][4];
    }

    /// <summary>A key on every node: the base layer of the system images (the pause image's).</summary>
    public Multihash HotKey { get; }

    public int Images => _imageKeys.Length;

    /// <summary>
    /// A node's keys: the system images, then popular-biased draws until about <paramref name="target"/> keys; then, when
    /// <paramref name="sample"/> is above 1, only the keys of a 1/<paramref name="sample"/> sample of the key universe
    /// (the same keys on every node, and always the hot key), so a thinned cluster keeps the popularity of its keys.
    /// </summary>
    public List<Multihash> NodeKeys(int target, Random random, int sample = 1)
    {
        var keys = AllNodeKeys(target, random);
        return sample <= 1 ? keys : [.. keys.Where(k => k.Equals(HotKey) || BitConverter.ToUInt32(k.Digest, 0) % sample == 0)];
    }

    private List<Multihash> AllNodeKeys(int target, Random random)
    {
        var keys = new HashSet<Multihash>();
        for (int i = 0; i < SystemImages; i++)
        {
            keys.UnionWith(_imageKeys[i]);
        }

        var taken = new HashSet<int>();
        while (keys.Count < target && taken.Count < _cumulative.Length)
        {
            int image = SystemImages + Pick(_cumulative, random.NextDouble());
            if (taken.Add(image))
            {
                keys.UnionWith(_imageKeys[image]);
            }
        }

        return [.. keys];
    }

    private static Multihash Key(string text) => Cid.ForKey(text).Hash;

    /// <summary>Cumulative Zipf weights over <paramref name="count"/> items, normalised to end at 1.</summary>
    internal static double[] Cumulative(int count, double exponent)
    {
        var cumulative = new double[count];
        double sum = 0;
        for (int i = 0; i < count; i++)
        {
            sum += 1 / Math.Pow(i + 1, exponent);
            cumulative[i] = sum;
        }

        for (int i = 0; i < count; i++)
        {
            cumulative[i] /= sum;
        }

        return cumulative;
    }

    internal static int Pick(double[] cumulative, double u)
    {
        int index = Array.BinarySearch(cumulative, u);
        return Math.Min(index < 0 ? ~index : index, cumulative.Length - 1);
    }
}
