using Mono.Cecil;
using Mono.Cecil.Cil;

namespace Spegel.Tests.Architecture;

/// <summary>A top-level type of ours that uses another type, and one place where it does (for the failure message).</summary>
internal sealed record TypeDependency(string From, string FromNamespace, string To, string ToNamespace, string Where);

/// <summary>
/// Reads which types each type of a compiled assembly uses: base types, interfaces, attributes, fields, properties,
/// events, signatures, locals, catch clauses and every type, method or field an instruction names. Nested and
/// compiler-generated types (lambdas, async state machines) count for the type that declares them. Constants are
/// copied into the IL by the compiler and leave no reference: <see cref="SourceUsings"/> covers those.
/// </summary>
internal static class TypeDependencies
{
    public static IReadOnlyList<TypeDependency> Read(string assemblyPath)
    {
        using var module = ModuleDefinition.ReadModule(assemblyPath);
        var found = new Dictionary<(string, string), TypeDependency>();
        foreach (var type in module.GetTypes())
        {
            var owner = Outermost(type);
            if (!IsCompilerGenerated(owner))
            {
                new Reader(owner, found).Type(type);
            }
        }

        return found.Values.OrderBy(d => d.From, StringComparer.Ordinal).ThenBy(d => d.To, StringComparer.Ordinal).ToList();
    }

    /// <summary><c>&lt;Module&gt;</c>, <c>&lt;PrivateImplementationDetails&gt;</c>, collection-expression helpers.</summary>
    private static bool IsCompilerGenerated(TypeReference type) => type.Name.StartsWith('<');

    private static TypeReference Outermost(TypeReference type)
    {
        while (type.DeclaringType is { } parent)
        {
            type = parent;
        }

        return type;
    }

    private sealed class Reader(TypeReference owner, Dictionary<(string, string), TypeDependency> found)
    {
        public void Type(TypeDefinition type)
        {
            Add(type.BaseType, "base type");
            foreach (var implemented in type.Interfaces)
            {
                Add(implemented.InterfaceType, "interface");
            }

            Attributes(type.CustomAttributes, type.Name);
            Generics(type.GenericParameters, type.Name);
            foreach (var field in type.Fields)
            {
                Add(field.FieldType, $"field {field.Name}");
                Attributes(field.CustomAttributes, field.Name);
            }

            foreach (var property in type.Properties)
            {
                Add(property.PropertyType, $"property {property.Name}");
                Attributes(property.CustomAttributes, property.Name);
            }

            foreach (var @event in type.Events)
            {
                Add(@event.EventType, $"event {@event.Name}");
            }

            foreach (var method in type.Methods)
            {
                Method(method);
            }
        }

        private void Method(MethodDefinition method)
        {
            string where = $"{method.DeclaringType.Name}.{method.Name}";
            Add(method.ReturnType, where);
            Attributes(method.CustomAttributes, where);
            Generics(method.GenericParameters, where);
            foreach (var parameter in method.Parameters)
            {
                Add(parameter.ParameterType, where);
                Attributes(parameter.CustomAttributes, where);
            }

            if (!method.HasBody)
            {
                return;
            }

            foreach (var variable in method.Body.Variables)
            {
                Add(variable.VariableType, where);
            }

            foreach (var handler in method.Body.ExceptionHandlers)
            {
                Add(handler.CatchType, where);
            }

            foreach (var instruction in method.Body.Instructions)
            {
                switch (instruction.Operand)
                {
                    case TypeReference type:
                        Add(type, where);
                        break;
                    case MethodReference called:
                        Add(called.DeclaringType, where);
                        Add(called.ReturnType, where);
                        foreach (var parameter in called.Parameters)
                        {
                            Add(parameter.ParameterType, where);
                        }

                        if (called is GenericInstanceMethod generic)
                        {
                            foreach (var argument in generic.GenericArguments)
                            {
                                Add(argument, where);
                            }
                        }

                        break;
                    case FieldReference field:
                        Add(field.DeclaringType, where);
                        Add(field.FieldType, where);
                        break;
                }
            }
        }

        private void Attributes(IEnumerable<CustomAttribute> attributes, string where)
        {
            foreach (var attribute in attributes)
            {
                Add(attribute.AttributeType, where);
                foreach (var argument in attribute.ConstructorArguments.Concat(attribute.Properties.Select(p => p.Argument)))
                {
                    if (argument.Value is TypeReference named)
                    {
                        Add(named, where);
                    }
                }
            }
        }

        private void Generics(IEnumerable<GenericParameter> parameters, string where)
        {
            foreach (var constraint in parameters.SelectMany(p => p.Constraints))
            {
                Add(constraint.ConstraintType, where);
            }
        }

        private void Add(TypeReference? type, string where)
        {
            switch (type)
            {
                case null or GenericParameter or FunctionPointerType:
                    return;
                case GenericInstanceType generic:
                    foreach (var argument in generic.GenericArguments)
                    {
                        Add(argument, where);
                    }

                    Add(generic.ElementType, where);
                    return;
                case TypeSpecification specification: // arrays, by-ref, pointers, modifiers
                    Add(specification.ElementType, where);
                    return;
            }

            var target = Outermost(type);
            if (IsCompilerGenerated(target) || target.FullName == owner.FullName)
            {
                return;
            }

            found.TryAdd((owner.FullName, target.FullName), new TypeDependency(owner.FullName, owner.Namespace, target.FullName, target.Namespace, where));
        }
    }
}
